package engine

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/bulwark-security/bulwark/internal/pathglob"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// RuleSet is the compiled meaning of the policies selected for one
// workload. It is immutable and safe for concurrent use.
type RuleSet struct {
	mode     PolicyMode
	postures Postures
	policies []*policy.Policy
	rules    []compiledRule
	byKind   map[OpKind]*index
	// allowList records the posture classes in allow-list mode: at least
	// one Allow rule of the class was selected.
	allowList map[policy.Class]bool
	// posture holds the precomputed default-posture decision of each
	// posture class.
	posture  map[policy.Class]Decision
	warnings []string
}

// opKinds maps rule classes to the operation kind they speak about.
var opKinds = map[policy.Class]OpKind{
	policy.ClassProcess:      OpProcess,
	policy.ClassFile:         OpFile,
	policy.ClassNetwork:      OpNetwork,
	policy.ClassCapabilities: OpCapabilities,
	policy.ClassSyscalls:     OpSyscall,
}

// Compile selects the policies that apply to w and indexes their rules.
// Selected policies are ordered by kind, namespace and name (then input
// order), which fixes which rule a decision names when several agree.
// Problems that do not stop compilation (an invalid pattern, which is then
// skipped; an invalid posture annotation) are reported by Warnings.
func Compile(policies []*policy.Policy, w Workload) *RuleSet {
	rs := &RuleSet{
		mode:      w.PolicyMode,
		postures:  w.Postures,
		policies:  Select(policies, w),
		byKind:    make(map[OpKind]*index),
		allowList: make(map[policy.Class]bool),
		posture:   make(map[policy.Class]Decision),
	}
	if !w.Host && w.NamespaceAnnotations != nil {
		rs.postures, rs.warnings = ResolvePostures(w.Postures, w.NamespaceAnnotations)
	}
	switch rs.mode {
	case PolicyEnabled, PolicyDisabled, PolicyAudited:
	default:
		if rs.mode != "" {
			rs.warnings = append(rs.warnings, fmt.Sprintf("unknown policy mode %q; enforcing", rs.mode))
		}
		rs.mode = PolicyEnabled
	}
	slices.SortStableFunc(rs.policies, func(a, b *policy.Policy) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	n := 0
	for _, p := range rs.policies {
		n += len(p.Rules)
	}
	rs.rules = make([]compiledRule, 0, n)
	for _, p := range rs.policies {
		for i := range p.Rules {
			rs.addRule(p, &p.Rules[i])
		}
	}
	for _, c := range []policy.Class{policy.ClassFile, policy.ClassNetwork, policy.ClassCapabilities} {
		rs.posture[c] = postureDecision(c, rs.postures.of(c), rs.mode)
	}
	return rs
}

// addRule indexes one rule under the operation kind it speaks about. Rule
// kinds the engine does not decide (DNS, device) are kept out of the index.
func (rs *RuleSet) addRule(p *policy.Policy, r *policy.Rule) {
	kind, ok := opKinds[r.Class]
	if !ok || r.Matcher == policy.MatchDNS {
		return
	}
	ix := rs.byKind[kind]
	if ix == nil {
		ix = &index{}
		rs.byKind[kind] = ix
	}
	id := ruleID(len(rs.rules))
	switch {
	case r.Class == policy.ClassSyscalls:
		if len(r.Syscalls) == 0 {
			add(&ix.names, "", id)
		}
		for _, name := range r.Syscalls {
			add(&ix.names, normalizeName(name), id)
		}
	case r.Matcher == policy.MatchPath:
		add(&ix.exact, r.Path, id)
	case r.Matcher == policy.MatchExecName:
		add(&ix.execName, r.ExecName, id)
	case r.Matcher == policy.MatchDirectory && r.Recursive:
		add(&ix.trees, trimDir(r.Dir), id)
	case r.Matcher == policy.MatchDirectory:
		add(&ix.dirs, trimDir(r.Dir), id)
	case r.Matcher == policy.MatchPattern:
		g, err := pathglob.Compile(r.Pattern)
		if err != nil {
			rs.warnings = append(rs.warnings, fmt.Sprintf("%s %s: %s[%d] skipped: %v", p.Kind, qualifiedName(p), r.Section, r.Index, err))
			return
		}
		ix.addGlob(g, id)
	case r.Matcher == policy.MatchProtocol:
		add(&ix.names, normalizeName(r.Protocol), id)
	case r.Matcher == policy.MatchCapability:
		add(&ix.names, normalizeCapability(r.Capability), id)
	default:
		return
	}
	if r.Action == policy.ActionAllow && r.Class != policy.ClassSyscalls {
		rs.allowList[r.Class.PostureClass()] = true
	}
	rs.rules = append(rs.rules, compiledRule{})
	rs.rules[id].init(p, r, rs.mode)
}

// trimDir turns "/a/b/" into "/a/b" and "/" into "", the index keys.
func trimDir(dir string) string {
	if dir != "" && dir[len(dir)-1] == '/' {
		return dir[:len(dir)-1]
	}
	return dir
}

// postureDecision precomputes the decision for an operation of class c that
// no Allow rule permits while c is in allow-list mode.
func postureDecision(c policy.Class, p Posture, mode PolicyMode) Decision {
	d := Decision{
		Source:     SourceDefaultPosture,
		PolicyName: DefaultPosturePolicyName,
		Reason: fmt.Sprintf("the %s class is in allow-list mode and no Allow rule permits this operation, so the %s default posture (%s) applies",
			c, c, p),
	}
	if p == PostureBlock {
		d.Action = ActionBlock
	} else {
		d.Action = ActionAudit
	}
	return finish(d, mode)
}

// Policies returns the selected policies in precedence order.
func (rs *RuleSet) Policies() []*policy.Policy { return rs.policies }

// Mode returns the workload's policy mode.
func (rs *RuleSet) Mode() PolicyMode { return rs.mode }

// Postures returns the effective default postures.
func (rs *RuleSet) Postures() Postures { return rs.postures }

// AllowListed reports whether the posture class of c (file for process
// rules) is in allow-list mode.
func (rs *RuleSet) AllowListed(c policy.Class) bool { return rs.allowList[c.PostureClass()] }

// Warnings returns problems found while compiling.
func (rs *RuleSet) Warnings() []string { return rs.warnings }
