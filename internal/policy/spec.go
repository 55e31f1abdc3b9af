package policy

import (
	v1 "github.com/bulwark-security/bulwark/api/security/v1"
)

// ruleSpec is the rule-bearing part of a KubeArmorPolicy,
// KubeArmorClusterPolicy or KubeArmorHostPolicy spec. Host network and
// capability rules are converted to the container types, which have the
// same fields.
type ruleSpec struct {
	meta         v1.RuleMeta
	process      v1.ProcessType
	file         v1.FileType
	network      v1.NetworkType
	capabilities v1.CapabilitiesType
	syscalls     v1.SyscallsType
	device       v1.DeviceType
	presets      []v1.PresetType
	apparmor     string
}

func fromContainerRules(r v1.ContainerRules) ruleSpec {
	return ruleSpec{meta: r.RuleMeta, process: r.Process, file: r.File, network: r.Network, capabilities: r.Capabilities,
		syscalls: r.Syscalls, presets: r.Presets, apparmor: r.AppArmor}
}

func fromHostSpec(s v1.KubeArmorHostPolicySpec) ruleSpec {
	network := v1.NetworkType{MatchDNSQueries: s.Network.MatchDNSQueries, RuleMeta: s.Network.RuleMeta}
	for _, r := range s.Network.MatchProtocols {
		network.MatchProtocols = append(network.MatchProtocols, v1.MatchNetworkProtocolType(r))
	}
	capabilities := v1.CapabilitiesType{RuleMeta: s.Capabilities.RuleMeta}
	for _, r := range s.Capabilities.MatchCapabilities {
		capabilities.MatchCapabilities = append(capabilities.MatchCapabilities, v1.MatchCapabilitiesType(r))
	}
	return ruleSpec{meta: s.RuleMeta, process: s.Process, file: s.File, network: network,
		capabilities: capabilities, syscalls: s.Syscalls, device: s.Device, apparmor: s.AppArmor}
}
