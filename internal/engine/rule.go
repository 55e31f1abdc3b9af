package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/bulwark-security/bulwark/internal/policy"
)

// compiledRule is a selected rule with its precomputed decisions.
type compiledRule struct {
	rule *policy.Rule
	// hit is the decision when the rule matches and speaks: the rule's
	// action. exempt is the decision when a Block rule matches but the
	// operation meets its ownerOnly/readOnly/allowedArgs conditions.
	hit, exempt Decision
	ref         RuleRef
}

// verdict is what one matching rule says about an operation.
type verdict uint8

const (
	verdictNone   verdict = iota // the rule says nothing (conditions unmet)
	verdictDeny                  // a Block rule denies
	verdictAudit                 // an Audit rule reports
	verdictPermit                // an Allow rule permits
	verdictExempt                // a Block rule permits: its conditions are met
)

// judge returns the rule's verdict on op, whose target the rule matches, and
// the fromSource entry that matched.
func (cr *compiledRule) judge(op *Operation) (verdict, string) {
	r := cr.rule
	src, ok := sourceMatch(r.FromSource, op.Source)
	if !ok || (r.PTS != nil && *r.PTS && !op.TTY) {
		return verdictNone, ""
	}
	met := conditionsMet(r, op)
	switch r.Action {
	case policy.ActionAllow:
		if met {
			return verdictPermit, src
		}
	case policy.ActionBlock:
		if hasConditions(r) && met {
			return verdictExempt, src
		}
		return verdictDeny, src
	default: // Audit: reports what a Block rule would deny
		if !hasConditions(r) || !met {
			return verdictAudit, src
		}
	}
	return verdictNone, ""
}

func hasConditions(r *policy.Rule) bool {
	return r.OwnerOnly || r.ReadOnly || len(r.AllowedArgs) > 0
}

// conditionsMet reports whether op satisfies every ownerOnly, readOnly and
// allowedArgs condition of r (vacuously true without conditions).
func conditionsMet(r *policy.Rule, op *Operation) bool {
	if r.OwnerOnly && !op.isOwner() {
		return false
	}
	if r.ReadOnly && op.Write {
		return false
	}
	if len(r.AllowedArgs) > 0 {
		for _, a := range op.Args {
			if !slices.Contains(r.AllowedArgs, a) {
				return false
			}
		}
	}
	return true
}

// sourceMatch reports whether source satisfies a fromSource list (always,
// when empty) and returns the entry that matched.
func sourceMatch(from []policy.Source, source string) (string, bool) {
	if len(from) == 0 {
		return "", true
	}
	if source == "" {
		return "", false
	}
	for _, s := range from {
		switch {
		case s.Path != "" && s.Path == source:
			return s.Path, true
		case s.Dir != "" && source != strings.TrimSuffix(s.Dir, "/") && inDir(s.Dir, s.Recursive, source):
			return s.Dir, true
		}
	}
	return "", false
}

// targetMatch checks a syscall rule's optional target path or directory.
func targetMatch(r *policy.Rule, path string) bool {
	switch {
	case r.Path != "":
		return r.Path == path
	case r.Dir != "":
		return inDir(r.Dir, r.Recursive, path)
	}
	return true
}

// init precomputes the decisions of rule r of policy p in place, so that
// they can point at cr.ref.
func (cr *compiledRule) init(p *policy.Policy, r *policy.Rule, mode PolicyMode) {
	cr.rule = r
	cr.ref = RuleRef{
		Kind: p.Kind, Namespace: p.Namespace,
		Section: r.Section, Index: r.Index, Location: r.Location,
	}
	desc := fmt.Sprintf("%s rule %s[%d] (%s) of %s %s",
		r.Action, r.Section, r.Index, describeTarget(r), p.Kind, qualifiedName(p))
	base := Decision{
		Source: SourcePolicy, PolicyName: p.Name, Rule: &cr.ref, Matcher: r.Matcher,
		Severity: r.Severity, Tags: r.Tags, Message: r.Message,
	}
	cr.hit = base
	switch r.Action {
	case policy.ActionAllow:
		cr.hit.Action, cr.hit.Reason = ActionAllow, "the operation is explicitly allowed by "+desc
	case policy.ActionBlock:
		cr.hit.Action, cr.hit.Reason = ActionBlock, "the operation matches "+desc+", which denies it"
	default:
		cr.hit.Action, cr.hit.Reason = ActionAudit, "the operation matches "+desc+", which reports it"
	}
	if r.Action == policy.ActionBlock && hasConditions(r) {
		cr.exempt = base
		cr.exempt.Action = ActionAllow
		cr.exempt.Reason = "the operation matches " + desc + " but meets its " + conditionNames(r) + " conditions, so the rule permits it"
	}
	cr.hit, cr.exempt = finish(cr.hit, mode), finish(cr.exempt, mode)
}

// finish applies the workload's policy mode to a precomputed decision and
// sets Alert. In audited mode nothing is denied: Block becomes Audit (Block)
// and an Allow that a rule gave becomes Audit (Allow).
func finish(d Decision, mode PolicyMode) Decision {
	if mode == PolicyAudited {
		switch {
		case d.Action == ActionBlock:
			d.Action = ActionAuditBlock
			d.Reason += "; the workload's policy mode is audited, so it is only reported"
		case d.Action == ActionAllow && d.Source == SourcePolicy:
			d.Action = ActionAuditAllow
		}
	}
	d.Alert = d.Action.alerts()
	return d
}

func qualifiedName(p *policy.Policy) string {
	if p.Namespace == "" {
		return p.Name
	}
	return p.Namespace + "/" + p.Name
}

func conditionNames(r *policy.Rule) string {
	var names []string
	if r.OwnerOnly {
		names = append(names, "ownerOnly")
	}
	if r.ReadOnly {
		names = append(names, "readOnly")
	}
	if len(r.AllowedArgs) > 0 {
		names = append(names, "allowedArgs")
	}
	return strings.Join(names, "/")
}

// describeTarget renders what a rule matches, e.g. "directory /etc/, recursive".
func describeTarget(r *policy.Rule) string {
	// A normalised rule sets exactly the one field its matcher reads.
	target := cmp.Or(r.Path, r.ExecName, r.Dir, r.Pattern, r.Protocol, r.Capability)
	s := string(r.Matcher) + " " + target
	if r.Class == policy.ClassSyscalls {
		s = "syscalls " + strings.Join(r.Syscalls, ",")
		if target != "" {
			s += " on " + target
		}
	}
	if r.Recursive {
		s += ", recursive"
	}
	if len(r.FromSource) > 0 {
		s += ", fromSource"
	}
	if r.PTS != nil && *r.PTS {
		s += ", pts"
	}
	return s
}
