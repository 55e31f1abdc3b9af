package policy

import (
	"slices"
	"strconv"
	"strings"

	v1 "github.com/bulwark-security/bulwark/api/security/v1"
	"github.com/bulwark-security/bulwark/internal/pathglob"
)

// Known names the CRD patterns let through only loosely (they are anchored
// at the end alone) or not at all.
var (
	protocols    = []string{"tcp", "udp", "raw", "icmp", "icmpv6", "sctp", "stream", "dgram", "rdm", "seqpacket", "dccp", "packet", "all"}
	capabilities = []string{"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
		"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
		"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
		"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
		"mac_override", "mac_admin"}
	presetNames = []string{"filelessExec", "anonymousMapExec", "protectEnv", "exec", "protectProc"}
)

func (b builder) process(p v1.ProcessType) {
	sec := section{"process.matchPaths", ClassProcess, p.RuleMeta}
	for i, r := range p.MatchPaths {
		path := b.rulePath(sec, i)
		rule := Rule{OwnerOnly: r.OwnerOnly, FromSource: b.sources(path, r.FromSource),
			AllowedArgs: r.AllowedArgs, PTS: r.PTS}
		switch {
		case r.Path != "" && r.ExecName != "":
			b.reportAt(b.opts.semantic(), path, "set either path or execname, not both")
			continue
		case r.Path != "":
			rule.Matcher, rule.Path = MatchPath, string(r.Path)
		case r.ExecName != "":
			rule.Matcher, rule.ExecName = MatchExecName, string(r.ExecName)
		default:
			b.reportAt(b.opts.semantic(), path, "one of path or execname is required")
			continue
		}
		b.emit(sec, i, r.RuleMeta, rule)
	}
	sec = section{"process.matchDirectories", ClassProcess, p.RuleMeta}
	for i, r := range p.MatchDirectories {
		b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchDirectory, Dir: string(r.Directory), Recursive: r.Recursive,
			OwnerOnly: r.OwnerOnly, FromSource: b.sources(b.rulePath(sec, i), r.FromSource), PTS: r.PTS})
	}
	sec = section{"process.matchPatterns", ClassProcess, p.RuleMeta}
	for i, r := range p.MatchPatterns {
		if b.validPattern(sec, i, r.Pattern) {
			b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchPattern, Pattern: r.Pattern, OwnerOnly: r.OwnerOnly})
		}
	}
}

func (b builder) file(f v1.FileType) {
	sec := section{"file.matchPaths", ClassFile, f.RuleMeta}
	for i, r := range f.MatchPaths {
		b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchPath, Path: string(r.Path), ReadOnly: r.ReadOnly,
			OwnerOnly: r.OwnerOnly, FromSource: b.sources(b.rulePath(sec, i), r.FromSource)})
	}
	sec = section{"file.matchDirectories", ClassFile, f.RuleMeta}
	for i, r := range f.MatchDirectories {
		b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchDirectory, Dir: string(r.Directory), Recursive: r.Recursive,
			ReadOnly: r.ReadOnly, OwnerOnly: r.OwnerOnly, FromSource: b.sources(b.rulePath(sec, i), r.FromSource)})
	}
	sec = section{"file.matchPatterns", ClassFile, f.RuleMeta}
	for i, r := range f.MatchPatterns {
		if b.validPattern(sec, i, r.Pattern) {
			b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchPattern, Pattern: r.Pattern, ReadOnly: r.ReadOnly, OwnerOnly: r.OwnerOnly})
		}
	}
}

// validPattern reports a glob that pathglob cannot compile (unbalanced
// braces or brackets, ...): no enforcer could apply it, so the rule is
// dropped, with an error (a warning when lenient: the CRD accepts any string).
func (b builder) validPattern(sec section, i int, pattern string) bool {
	if _, err := pathglob.Compile(pattern); err != nil {
		b.reportAt(b.opts.semantic(), b.rulePath(sec, i)+".pattern", "malformed pattern: %v", err)
		return false
	}
	return true
}

func (b builder) network(n v1.NetworkType) {
	sec := section{"network.matchProtocols", ClassNetwork, n.RuleMeta}
	for i, r := range n.MatchProtocols {
		path := b.rulePath(sec, i) + ".protocol"
		from := b.sources(b.rulePath(sec, i), r.FromSource)
		for _, p := range b.items(path, string(r.Protocol), strings.ToLower, protocols) {
			b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchProtocol, Protocol: p, FromSource: from, PTS: r.PTS})
		}
	}
	sec = section{"network.matchDNSQueries", ClassNetwork, n.RuleMeta}
	for i, r := range n.MatchDNSQueries {
		path := b.rulePath(sec, i) + ".domain"
		from := b.sources(b.rulePath(sec, i), r.FromSource)
		for _, domain := range b.items(path, r.Domain, normalDomain, nil) {
			b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchDNS, Domain: domain, FromSource: from})
		}
	}
}

// normalDomain lowercases a domain and trims its leading and trailing dots.
func normalDomain(s string) string { return strings.Trim(strings.ToLower(s), ".") }

// normalCapability lowercases a capability and drops its "cap_" prefix.
func normalCapability(s string) string { return strings.TrimPrefix(strings.ToLower(s), "cap_") }

func (b builder) capabilities(c v1.CapabilitiesType) {
	sec := section{"capabilities.matchCapabilities", ClassCapabilities, c.RuleMeta}
	for i, r := range c.MatchCapabilities {
		path := b.rulePath(sec, i) + ".capability"
		from := b.sources(b.rulePath(sec, i), r.FromSource)
		for _, cap := range b.items(path, string(r.Capability), normalCapability, capabilities) {
			b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchCapability, Capability: cap, FromSource: from})
		}
	}
}

// items expands a comma list, normalising each item and checking it against
// known (when given). Unknown or empty items are reported and dropped.
func (b builder) items(path, list string, normal func(string) string, known []string) []string {
	var out []string
	for _, item := range splitList(list) {
		item = normal(item)
		if item == "" || known != nil && !slices.Contains(known, item) || strings.ContainsAny(item, " /") {
			b.reportAt(b.opts.semantic(), path, "%q is not a valid item", item)
			continue
		}
		out = append(out, item)
	}
	if len(out) == 0 && list != "" && len(splitList(list)) == 0 {
		b.reportAt(b.opts.semantic(), path, "%q lists nothing", list)
	}
	return out
}

// sources converts fromSource entries, which must name a path.
func (b builder) sources(path string, from []v1.MatchSourceType) []Source {
	var out []Source
	for i, s := range from {
		if s.Path == "" {
			b.reportAt(b.opts.semantic(), index(path+".fromSource", i), "fromSource entry needs a path")
			continue
		}
		out = append(out, Source{Path: string(s.Path)})
	}
	return out
}

func (b builder) rulePath(sec section, i int) string { return index(b.path("spec."+sec.name), i) }

func (b builder) syscalls(s v1.SyscallsType) {
	meta := v1.RuleMeta{Severity: s.Severity, Tags: s.Tags, Message: s.Message, Action: v1.ActionAudit}
	sec := section{"syscalls.matchSyscalls", ClassSyscalls, meta}
	for i, r := range s.MatchSyscalls {
		path := b.rulePath(sec, i)
		if len(r.Syscalls) == 0 {
			b.reportAt(b.opts.semantic(), path, "syscall list is empty")
			continue
		}
		b.emit(sec, i, meta, Rule{Matcher: MatchSyscall, Syscalls: syscallNames(r.Syscalls),
			FromSource: b.syscallSources(path, r.FromSource)})
	}
	sec = section{"syscalls.matchPaths", ClassSyscalls, meta}
	for i, r := range s.MatchPaths {
		path := b.rulePath(sec, i)
		rule := Rule{Syscalls: syscallNames(r.Syscalls), FromSource: b.syscallSources(path, r.FromSource)}
		switch target := string(r.Path); {
		case target == "":
			b.reportAt(b.opts.semantic(), path, "path is required")
			continue
		case strings.HasSuffix(target, "/"):
			rule.Matcher, rule.Dir, rule.Recursive = MatchDirectory, target, r.Recursive
		default:
			if r.Recursive {
				b.reportAt(SeverityWarning, path+".recursive", "recursive has no effect on a file path")
			}
			rule.Matcher, rule.Path = MatchPath, target
		}
		b.emit(sec, i, meta, rule)
	}
}

func syscallNames(s []v1.Syscall) []string {
	out := make([]string, len(s))
	for i, name := range s {
		out[i] = string(name)
	}
	return out
}

// syscallSources converts syscall fromSource entries: a path, or a
// directory (ending in "/") searched recursively when asked.
func (b builder) syscallSources(path string, from []v1.SyscallFromSourceType) []Source {
	var out []Source
	for i, s := range from {
		p := index(path+".fromSource", i)
		switch {
		case (s.Path == "") == (s.Dir == ""):
			b.reportAt(b.opts.semantic(), p, "fromSource entry needs either path or dir")
			continue
		case s.Dir != "" && !strings.HasSuffix(s.Dir, "/"):
			b.reportAt(b.opts.semantic(), p+".dir", "dir %q must end with a slash", s.Dir)
			continue
		case s.Dir != "" && !strings.HasPrefix(s.Dir, "/"):
			b.reportAt(b.opts.semantic(), p+".dir", "dir %q must be absolute", s.Dir)
			continue
		case s.Path != "" && s.Recursive:
			b.reportAt(SeverityWarning, p+".recursive", "recursive has no effect on a path")
		}
		out = append(out, Source{Path: string(s.Path), Dir: s.Dir, Recursive: s.Recursive && s.Dir != ""})
	}
	return out
}

func (b builder) device(dev v1.DeviceType) {
	sec := section{"device.matchDevice", ClassDevice, dev.RuleMeta}
	for i, r := range dev.MatchDevice {
		if !validDeviceClass(r.Class) {
			b.reportAt(SeverityWarning, b.rulePath(sec, i)+".class", "unknown USB device class %q", r.Class)
		}
		b.emit(sec, i, r.RuleMeta, Rule{Matcher: MatchDevice, Device: &Device{
			Class: r.Class, SubClass: intPtr(r.SubClass), Protocol: intPtr(r.Protocol), Level: intPtr(r.Level)}})
	}
}

// usbClasses are the USB class names KubeArmor's device handler knows.
var usbClasses = []string{"ALL", "PER-INTERFACE", "AUDIO", "COMM", "HID", "PHYSICAL", "IMAGE", "PRINTER",
	"MASS-STORAGE", "HUB", "CDC-DATA", "SMART-CARD", "CONTENT-SECURITY", "VIDEO", "PERSONAL-HEALTHCARE",
	"AUDIO-VIDEO", "BILLBOARD", "TYPE-C-BRIDGE", "DIAGNOSTIC", "WIRELESS-CONTROLLER", "MISC",
	"APPLICATION-SPECIFIC", "VENDOR-SPECIFIC"}

func validDeviceClass(c string) bool {
	if n, err := strconv.ParseUint(c, 0, 8); err == nil {
		return n <= 255
	}
	return slices.Contains(usbClasses, strings.ToUpper(c))
}

func intPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	v := int(*p)
	return &v
}

// presets converts presets; a preset without action takes the spec's.
func (b builder) presets(presets []v1.PresetType) {
	for i, p := range presets {
		path := index(b.path("spec.presets"), i)
		if !slices.Contains(presetNames, p.Name) {
			b.reportAt(b.opts.semantic(), path+".name", "unknown preset %q (want one of %s)", p.Name, strings.Join(presetNames, ", "))
			continue
		}
		action := firstAction(p.Action, b.spec.Action)
		if action == ActionAllow {
			b.reportAt(b.opts.semantic(), path+".action", "a preset's action must be Audit or Block")
			continue
		}
		b.policy.Presets = append(b.policy.Presets, Preset{Name: p.Name, Action: action})
	}
}
