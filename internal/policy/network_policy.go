package policy

import (
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"time"

	v1 "github.com/bulwark-security/bulwark/api/security/v1"
)

// namedPorts are the port names a KubeArmorNetworkPolicy accepts.
var namedPorts = map[string]int{"http": 80, "https": 443, "ssh": 22, "dns": 53}

// networkSelector normalises the selectors of a KubeArmorNetworkPolicy.
func (s scope) networkSelector(spec v1.KubeArmorNetworkPolicySpec) Selector {
	if len(spec.NodeSelector.MatchLabels) == 0 && len(spec.Selector.MatchLabels) == 0 {
		s.reportAt(s.opts.semantic(), s.path("spec"), "a network policy needs nodeSelector or selector labels")
	}
	return Selector{NodeLabels: maps.Clone(spec.NodeSelector.MatchLabels), MatchLabels: maps.Clone(spec.Selector.MatchLabels)}
}

// networkPolicy checks the ingress and egress rules of a network policy.
// They are not normalised into Rules yet.
func (s scope) networkPolicy(spec v1.KubeArmorNetworkPolicySpec) {
	for i, r := range spec.Ingress {
		path := index(s.path("spec.ingress"), i)
		s.peers(path+".from", r.From)
		s.traffic(path, r.TrafficRule)
	}
	for i, r := range spec.Egress {
		path := index(s.path("spec.egress"), i)
		s.peers(path+".to", r.To)
		s.traffic(path, r.TrafficRule)
	}
}

func (s scope) peers(path string, peers []v1.NetworkPeerType) {
	for i, p := range peers {
		if _, err := netip.ParsePrefix(p.IPBlock.CIDR); err != nil {
			s.reportAt(s.opts.semantic(), index(path, i)+".ipBlock.cidr", "invalid CIDR %q", p.IPBlock.CIDR)
		}
	}
}

func (s scope) traffic(path string, r v1.TrafficRule) {
	for i, p := range r.Ports {
		pp := index(path+".ports", i)
		port, ok := namedPorts[strings.ToLower(p.Port)]
		if !ok {
			n, err := strconv.Atoi(p.Port)
			if err != nil || n < 1 || n > 65535 {
				s.reportAt(s.opts.semantic(), pp+".port", "port %q must be 1-65535 or one of http, https, ssh, dns", p.Port)
				continue
			}
			port = n
		}
		if p.EndPort != nil && int(*p.EndPort) < port {
			s.reportAt(s.opts.semantic(), pp+".endPort", "endPort %d is below port %d", *p.EndPort, port)
		}
	}
	if r.Duration != "" {
		if d, err := time.ParseDuration(r.Duration); err != nil || d <= 0 {
			s.reportAt(s.opts.semantic(), path+".duration", "invalid duration %q (want e.g. 2h, 30m, 45s)", r.Duration)
		}
	}
	if (r.Limit == "") != (r.Duration == "") {
		s.reportAt(SeverityWarning, path, "limit and duration only work together")
	}
}
