package policy

import (
	"cmp"
	"strings"

	v1 "github.com/bulwark-security/bulwark/api/security/v1"
)

// section is where a list of rules sits in a spec, e.g. "file.matchPaths".
type section struct {
	name  string
	class Class
	meta  v1.RuleMeta
}

// rules checks and normalises the rules of spec into p.
func (s scope) rules(p *Policy, spec ruleSpec) {
	var defaulted bool
	b := builder{scope: s, spec: spec.meta, policy: p, defaulted: &defaulted}
	b.process(spec.process)
	b.file(spec.file)
	b.network(spec.network)
	b.capabilities(spec.capabilities)
	b.syscalls(spec.syscalls)
	b.device(spec.device)
	b.presets(spec.presets)
	if defaulted {
		s.reportAt(SeverityWarning, s.path("spec"), "no action at rule, section or spec level: the rules default to Block")
	}
	p.AppArmor = spec.apparmor
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
}

// builder appends the normalised rules of one spec to a policy.
type builder struct {
	scope
	spec   v1.RuleMeta
	policy *Policy
	// defaulted is set when a rule got the default action.
	defaulted *bool
}

// emit completes r (class, section, index, location, inherited metadata)
// and appends it. Past the input's limit, rules are reported once and
// dropped.
func (b builder) emit(sec section, i int, meta v1.RuleMeta, r Rule) {
	path := index(b.path("spec."+sec.name), i)
	if b.budget.rules--; b.budget.rules < 0 {
		if b.budget.rules == -1 {
			b.reportAt(SeverityError, path, "more than %d rules in one input (comma lists expanded)", b.budget.limit.rules)
		}
		return
	}
	r.Class, r.Section, r.Index = sec.class, sec.name, i
	r.Location = b.location(path)
	if cmp.Or(meta.Action, sec.meta.Action, b.spec.Action) == "" {
		*b.defaulted = true
	}
	r.Action = firstAction(meta.Action, sec.meta.Action, b.spec.Action)
	r.Severity = int(cmp.Or(meta.Severity, sec.meta.Severity, b.spec.Severity))
	r.Tags = firstTags(meta.Tags, sec.meta.Tags, b.spec.Tags)
	r.Message = cmp.Or(meta.Message, sec.meta.Message, b.spec.Message)
	b.policy.Rules = append(b.policy.Rules, r)
}

// firstTags returns the innermost non-empty tag list.
func firstTags(lists ...[]string) []string {
	for _, l := range lists {
		if len(l) > 0 {
			return l
		}
	}
	return nil
}

// firstAction returns the innermost action set, capitalised; Block when
// none is.
func firstAction(actions ...v1.ActionType) Action {
	for _, a := range actions {
		if a != "" {
			return normalAction(a)
		}
	}
	return ActionBlock
}

// normalAction capitalises an action the way KubeArmor's daemon reads it.
func normalAction(a v1.ActionType) Action {
	for _, known := range []Action{ActionAllow, ActionAudit, ActionBlock} {
		if strings.EqualFold(string(a), string(known)) {
			return known
		}
	}
	return Action(a)
}

// splitList splits a comma list, trimming blanks and dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
