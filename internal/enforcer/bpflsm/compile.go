package bpflsm

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/pathglob"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// Class is the rule class of a map entry (enum bclass in bpf/bulwark.c).
type Class uint8

// Classes.
const (
	ClassProcess      Class = 1
	ClassFile         Class = 2
	ClassNetwork      Class = 3
	ClassCapabilities Class = 4
)

func (c Class) String() string {
	switch c {
	case ClassProcess:
		return "process"
	case ClassFile:
		return "file"
	case ClassNetwork:
		return "network"
	case ClassCapabilities:
		return "capabilities"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Role says where a target is looked up while a path is scanned (enum role).
type Role uint8

// Roles.
const (
	RoleAncestor Role = 1 // recursive directory, at every '/' of the path
	RoleParent   Role = 2 // non-recursive directory, at the path's last '/'
	RoleSelf     Role = 3 // exact path; a directory rule's own directory
	RoleExecName Role = 4 // basename of an executable
	RolePattern  Role = 5 // accept set of the class's pattern DFA
	RoleName     Role = 6 // protocol, socket type or capability id
)

// SourceMode says how an entry's source is matched (enum srcmode).
type SourceMode uint8

// Source modes.
const (
	SourceNone SourceMode = 0 // the rule has no fromSource
	SourcePath SourceMode = 1 // the source executable is Source
	SourceDir  SourceMode = 2 // the source executable lies directly in Source
)

// Combo indexes the verdicts of an entry by the conditions of an operation:
// ComboTTY | ComboOwner | ComboWrite.
const (
	ComboWrite = 1 << 0 // the operation writes (open for write/append, path modification)
	ComboOwner = 1 << 1 // the actor's uid is the file owner's
	ComboTTY   = 1 << 2 // the actor has a controlling terminal
	NumCombos  = 8
)

// Verdicts holds, for one combo, the lowest rule id giving each verdict
// (0: none). Rule ids are 1-based indexes into Spec.Rules, in the engine's
// precedence order.
type Verdicts struct{ Deny, Audit, Permit uint32 }

// Entry is one rules-map entry of a workload: a target under one source.
type Entry struct {
	Class      Class
	Role       Role
	SourceMode SourceMode
	// Target is the path, directory (without trailing '/'), basename, name
	// or pattern set the entry stands for; Source the fromSource path or
	// directory. Both are for provenance and collision checks only.
	Target, Source string
	TargetHash     uint64 // h1 of Target, or the name/accept id
	SourceHash     uint64 // h1 of Source, 0 without
	Check          uint64 // h2 of Target ^ h2 of Source * srcMul
	Verdicts       [NumCombos]Verdicts
}

// Kind returns the key's kind field: class<<8 | role<<4 | source mode.
func (e *Entry) Kind() uint16 {
	return uint16(e.Class)<<8 | uint16(e.Role)<<4 | uint16(e.SourceMode)
}

// RuleInfo is the provenance of a rule id.
type RuleInfo struct {
	Policy    string          `json:"policy"`
	Kind      policy.Kind     `json:"kind"`
	Namespace string          `json:"namespace,omitempty"`
	Section   string          `json:"section"`
	Index     int             `json:"index"`
	Location  policy.Location `json:"location"`
	Action    policy.Action   `json:"action"`
	Matcher   policy.Matcher  `json:"matcher"`
	Severity  int             `json:"severity,omitempty"`
	Tags      []string        `json:"tags,omitempty"`
	Message   string          `json:"message,omitempty"`
	Target    string          `json:"target"`
}

// Spec is the kernel encoding of one workload's rule set. It is plain data,
// deterministic for a given rule set and seed, and touches no kernel.
type Spec struct {
	Mode engine.PolicyMode
	// AllowList, BlockPosture and HasSource are bit sets over classes
	// (1<<Class): classes in allow-list mode (file stands for process too),
	// whose default posture is block, and with fromSource rules.
	AllowList, BlockPosture, HasSource uint8
	Rules                              []RuleInfo
	Entries                            []Entry
	// DFA holds the pattern automaton of the process and file classes
	// (nil without patterns).
	DFA      [ClassFile + 1]*DFA
	Seed     Seed
	Warnings []string
}

// CompileOptions tune Compile. The zero value is valid.
type CompileOptions struct {
	// Seed for the path hashes; zero means DefaultSeed.
	Seed Seed
	// MaxDFAStates bounds each class's pattern DFA; zero means 4096.
	MaxDFAStates int
}

// CollisionError reports two different targets with the same map key.
type CollisionError struct{ A, B string }

func (e *CollisionError) Error() string {
	return fmt.Sprintf("bpflsm: hash collision between %q and %q", e.A, e.B)
}

// CompileFor selects and compiles the policies of workload w.
func CompileFor(policies []*policy.Policy, w engine.Workload, opts CompileOptions) (*Spec, error) {
	return Compile(engine.Compile(policies, w), opts)
}

type entryKey struct {
	kind   uint16
	target uint64
	src    uint64
}

type compiler struct {
	spec    *Spec
	seed    Seed
	entries map[entryKey]*Entry
	// patterns collects (pattern, rule id) per path class.
	patterns [ClassFile + 1][]patternRule
}

type patternRule struct {
	pattern string
	id      uint32
	rule    *policy.Rule
}

// Compile encodes rs. Rule ids follow the engine's precedence order
// (selected policies by kind, namespace and name, then rule order), so the
// lowest id the kernel finds for a verdict is the rule the engine names.
func Compile(rs *engine.RuleSet, opts CompileOptions) (*Spec, error) {
	c := &compiler{
		spec:    &Spec{Mode: rs.Mode(), Seed: cmp.Or(opts.Seed, DefaultSeed)},
		seed:    cmp.Or(opts.Seed, DefaultSeed),
		entries: make(map[entryKey]*Entry),
	}
	c.spec.Warnings = append(c.spec.Warnings, rs.Warnings()...)
	postures := rs.Postures()
	for cl, pc := range map[Class]policy.Class{ClassFile: policy.ClassFile, ClassNetwork: policy.ClassNetwork, ClassCapabilities: policy.ClassCapabilities} {
		if rs.AllowListed(pc) {
			c.spec.AllowList |= 1 << cl
		}
	}
	if postures.File == engine.PostureBlock {
		c.spec.BlockPosture |= 1 << ClassFile
	}
	if postures.Network == engine.PostureBlock {
		c.spec.BlockPosture |= 1 << ClassNetwork
	}
	if postures.Capabilities == engine.PostureBlock {
		c.spec.BlockPosture |= 1 << ClassCapabilities
	}
	for _, p := range rs.Policies() {
		for i := range p.Rules {
			if err := c.addRule(p, &p.Rules[i]); err != nil {
				return nil, err
			}
		}
	}
	maxStates := cmp.Or(opts.MaxDFAStates, 4096)
	for cl := ClassProcess; cl <= ClassFile; cl++ {
		if err := c.addPatterns(cl, maxStates); err != nil {
			return nil, err
		}
	}
	c.spec.Entries = make([]Entry, 0, len(c.entries))
	for _, e := range c.entries {
		c.spec.Entries = append(c.spec.Entries, *e)
	}
	slices.SortFunc(c.spec.Entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Kind(), b.Kind()), cmp.Compare(a.TargetHash, b.TargetHash), cmp.Compare(a.SourceHash, b.SourceHash))
	})
	return c.spec, nil
}

func classOf(r *policy.Rule) (Class, bool) {
	switch r.Class {
	case policy.ClassProcess:
		return ClassProcess, true
	case policy.ClassFile:
		return ClassFile, true
	case policy.ClassNetwork:
		return ClassNetwork, r.Matcher == policy.MatchProtocol
	case policy.ClassCapabilities:
		return ClassCapabilities, r.Matcher == policy.MatchCapability
	}
	return 0, false
}

func (c *compiler) warn(p *policy.Policy, r *policy.Rule, format string, args ...any) {
	c.spec.Warnings = append(c.spec.Warnings, fmt.Sprintf("%s %s: %s[%d]: ", p.Kind, p.Name, r.Section, r.Index)+fmt.Sprintf(format, args...))
}

func trimDir(dir string) string { return strings.TrimSuffix(dir, "/") }

type target struct {
	role Role
	str  string
	id   uint64 // names: the id instead of a hash
}

func (c *compiler) addRule(p *policy.Policy, r *policy.Rule) error {
	cl, ok := classOf(r)
	if !ok {
		return nil // syscalls (monitor only), DNS, device: not kernel-enforced here
	}
	if r.Matcher == policy.MatchPattern {
		if _, err := pathglob.Compile(r.Pattern); err != nil {
			return nil // the engine skips it too, with a warning
		}
	}
	c.spec.Rules = append(c.spec.Rules, RuleInfo{
		Policy: p.Name, Kind: p.Kind, Namespace: p.Namespace, Section: r.Section, Index: r.Index,
		Location: r.Location, Action: r.Action, Matcher: r.Matcher, Severity: r.Severity,
		Tags: r.Tags, Message: r.Message,
		Target: cmp.Or(r.Path, r.ExecName, r.Dir, r.Pattern, r.Protocol, r.Capability),
	})
	id := uint32(len(c.spec.Rules))
	if len(r.AllowedArgs) > 0 {
		c.warn(p, r, "allowedArgs are not seen by the kernel: treated as never satisfied (Block denies, Allow does not permit)")
	}
	if len(r.FromSource) > 0 {
		c.spec.HasSource |= 1 << cl
	}
	var targets []target
	switch r.Matcher {
	case policy.MatchPath:
		targets = []target{{role: RoleSelf, str: r.Path}}
	case policy.MatchExecName:
		targets = []target{{role: RoleExecName, str: r.ExecName}}
	case policy.MatchDirectory:
		role := RoleParent
		if r.Recursive {
			role = RoleAncestor
		}
		targets = []target{{role: role, str: trimDir(r.Dir)}, {role: RoleSelf, str: trimDir(r.Dir)}}
	case policy.MatchPattern:
		c.patterns[cl] = append(c.patterns[cl], patternRule{pattern: r.Pattern, id: id, rule: r})
		return nil
	case policy.MatchProtocol:
		n, ok := netNames[strings.ToLower(strings.TrimSpace(r.Protocol))]
		if !ok {
			c.warn(p, r, "protocol %q never matches a socket", r.Protocol)
			return nil
		}
		targets = []target{{role: RoleName, str: r.Protocol, id: uint64(n)}}
	case policy.MatchCapability:
		n, ok := capNumbers[strings.TrimPrefix(strings.ToLower(strings.TrimSpace(r.Capability)), "cap_")]
		if !ok {
			c.warn(p, r, "unknown capability %q never matches", r.Capability)
			return nil
		}
		targets = []target{{role: RoleName, str: r.Capability, id: uint64(n) + 1}}
	default:
		return nil
	}
	for _, t := range targets {
		if len(t.str) >= pathMax && t.role != RoleName {
			c.warn(p, r, "target longer than PATH_MAX never matches")
			continue
		}
		if err := c.addTarget(cl, t, r, id); err != nil {
			return err
		}
	}
	return nil
}

type source struct {
	mode SourceMode
	str  string
}

func (c *compiler) sources(r *policy.Rule) []source {
	if len(r.FromSource) == 0 {
		return []source{{mode: SourceNone}}
	}
	var out []source
	for _, s := range r.FromSource {
		switch {
		case s.Path != "":
			out = append(out, source{mode: SourcePath, str: s.Path})
		case s.Dir != "":
			out = append(out, source{mode: SourceDir, str: trimDir(s.Dir)})
		}
	}
	return out
}

func (c *compiler) addTarget(cl Class, t target, r *policy.Rule, id uint32) error {
	var t1, t2 uint64
	if t.role == RoleName || t.role == RolePattern {
		t1, t2 = t.id, t.id
	} else {
		t1, t2 = c.seed.hash(t.str)
	}
	var vs [NumCombos]verdict
	for combo := range NumCombos {
		vs[combo] = judge(r, combo)
	}
	for _, s := range c.sources(r) {
		var s1, s2 uint64
		if s.mode != SourceNone {
			s1, s2 = c.seed.hash(s.str)
		}
		e := &Entry{Class: cl, Role: t.role, SourceMode: s.mode, Target: t.str, Source: s.str,
			TargetHash: t1, SourceHash: s1, Check: t2 ^ (s2 * srcMul)}
		k := entryKey{kind: e.Kind(), target: t1, src: s1}
		if old, ok := c.entries[k]; ok {
			if old.Target != e.Target || old.Source != e.Source || old.Check != e.Check {
				return &CollisionError{A: old.Target + " from " + old.Source, B: e.Target + " from " + e.Source}
			}
			e = old
		} else {
			c.entries[k] = e
		}
		for combo, v := range vs {
			e.Verdicts[combo].add(v, id)
		}
	}
	return nil
}

func (c *compiler) addPatterns(cl Class, maxStates int) error {
	prs := c.patterns[cl]
	if len(prs) == 0 {
		return nil
	}
	pats := make([]string, len(prs))
	for i, pr := range prs {
		pats[i] = pr.pattern
	}
	d, nonASCII, err := buildDFA(pats, maxStates)
	if err != nil {
		return fmt.Errorf("bpflsm: %s patterns: %w", cl, err)
	}
	if nonASCII {
		c.spec.Warnings = append(c.spec.Warnings, fmt.Sprintf("%s patterns: a bracket class with non-ASCII members matches any non-ASCII byte", cl))
	}
	c.spec.DFA[cl] = d
	for a, set := range d.AcceptSets {
		names := make([]string, len(set))
		for i, pi := range set {
			names[i] = pats[pi]
		}
		t := target{role: RolePattern, str: strings.Join(names, " | "), id: uint64(a + 1)}
		for _, pi := range set {
			if err := c.addTarget(cl, t, prs[pi].rule, prs[pi].id); err != nil {
				return err
			}
		}
	}
	return nil
}

type verdict uint8

const (
	verdictNone verdict = iota
	verdictDeny
	verdictAudit
	verdictPermit
)

func (v *Verdicts) add(vd verdict, id uint32) {
	var p *uint32
	switch vd {
	case verdictDeny:
		p = &v.Deny
	case verdictAudit:
		p = &v.Audit
	case verdictPermit:
		p = &v.Permit
	default:
		return
	}
	if *p == 0 || id < *p {
		*p = id
	}
}

// judge is the verdict of rule r, whose target and source matched, for an
// operation with the conditions of combo. It mirrors the engine's rule
// verdicts; allowedArgs, which the kernel does not see, are never met.
func judge(r *policy.Rule, combo int) verdict {
	if r.PTS != nil && *r.PTS && combo&ComboTTY == 0 {
		return verdictNone
	}
	conds := r.OwnerOnly || r.ReadOnly || len(r.AllowedArgs) > 0
	met := (!r.OwnerOnly || combo&ComboOwner != 0) && (!r.ReadOnly || combo&ComboWrite == 0) && len(r.AllowedArgs) == 0
	switch r.Action {
	case policy.ActionAllow:
		if met {
			return verdictPermit
		}
	case policy.ActionBlock:
		if conds && met {
			return verdictPermit
		}
		return verdictDeny
	default:
		if !conds || !met {
			return verdictAudit
		}
	}
	return verdictNone
}

const pathMax = 4096

// netNames are the kernel's network name ids (proto_name and type_name in
// bpf/bulwark.c): protocols and socket types share one name space, as the
// engine matches a rule's protocol against both.
var netNames = map[string]uint32{
	"tcp": 1, "udp": 2, "icmp": 3, "icmpv6": 4, "raw": 5, "sctp": 6,
	"stream": 7, "dgram": 8, "rdm": 9, "seqpacket": 10, "dccp": 11, "packet": 12, "all": 13,
}

// capNumbers maps capability names (lowercase, no cap_) to numbers.
var capNumbers = map[string]uint32{
	"chown": 0, "dac_override": 1, "dac_read_search": 2, "fowner": 3, "fsetid": 4, "kill": 5,
	"setgid": 6, "setuid": 7, "setpcap": 8, "linux_immutable": 9, "net_bind_service": 10,
	"net_broadcast": 11, "net_admin": 12, "net_raw": 13, "ipc_lock": 14, "ipc_owner": 15,
	"sys_module": 16, "sys_rawio": 17, "sys_chroot": 18, "sys_ptrace": 19, "sys_pacct": 20,
	"sys_admin": 21, "sys_boot": 22, "sys_nice": 23, "sys_resource": 24, "sys_time": 25,
	"sys_tty_config": 26, "mknod": 27, "lease": 28, "audit_write": 29, "audit_control": 30,
	"setfcap": 31, "mac_override": 32, "mac_admin": 33, "syslog": 34, "wake_alarm": 35,
	"block_suspend": 36, "audit_read": 37, "perfmon": 38, "bpf": 39, "checkpoint_restore": 40,
}
