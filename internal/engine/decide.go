package engine

import "github.com/bulwark-security/bulwark/internal/policy"

// Fixed decisions.
var (
	noMatch = Decision{
		Action: ActionAllow, Source: SourceNone,
		Reason: "no rule of the selected policies speaks about this operation",
	}
	disabled = Decision{
		Action: ActionAllow, Source: SourceNone,
		Reason: "policy enforcement is disabled for this workload (" + AnnotationPolicy + ": disabled)",
	}
	unknownKind = Decision{
		Action: ActionAllow, Source: SourceNone,
		Reason: "the operation kind is unknown, so no rule speaks about it",
	}
)

// Decide returns what the rule set means for op. See the package
// documentation for the precedence rules.
func (rs *RuleSet) Decide(op Operation) Decision {
	if rs.mode == PolicyDisabled {
		return disabled
	}
	class, ok := op.Kind.class()
	if !ok {
		return unknownKind
	}
	ev := evaluation{rs: rs, op: op, deny: -1, audit: -1, permit: -1}
	if ix := rs.byKind[op.Kind]; ix != nil {
		ev.collect(ix)
	}
	return ev.result(class)
}

// evaluation folds the verdicts of the candidate rules of one operation,
// keeping for each verdict the lowest rule id and its fromSource entry.
type evaluation struct {
	rs *RuleSet
	op Operation

	deny, audit, permit          ruleID
	denySrc, auditSrc, permitSrc string
	permitExempt                 bool
}

// collect offers the evaluation every candidate rule of ix.
func (ev *evaluation) collect(ix *index) {
	op := &ev.op
	switch op.Kind {
	case OpProcess, OpFile:
		ix.visitPath(ev, op.Path)
	case OpNetwork:
		op.Protocol, op.SocketType = normalizeName(op.Protocol), normalizeName(op.SocketType)
		visitAll(ev, ix.names[op.Protocol])
		if op.SocketType != op.Protocol {
			visitAll(ev, ix.names[op.SocketType])
		}
		visitAll(ev, ix.names["all"])
	case OpCapabilities:
		visitAll(ev, ix.names[normalizeCapability(op.Capability)])
	case OpSyscall:
		visitAll(ev, ix.names[normalizeName(op.Syscall)])
		visitAll(ev, ix.names[""])
	}
}

func (ev *evaluation) consider(id ruleID) {
	cr := &ev.rs.rules[id]
	if cr.rule.Class == policy.ClassSyscalls && !targetMatch(cr.rule, ev.op.Path) {
		return
	}
	v, src := cr.judge(&ev.op)
	switch v {
	case verdictDeny:
		keepLowest(&ev.deny, &ev.denySrc, id, src)
	case verdictAudit:
		keepLowest(&ev.audit, &ev.auditSrc, id, src)
	case verdictPermit, verdictExempt:
		if keepLowest(&ev.permit, &ev.permitSrc, id, src) {
			ev.permitExempt = v == verdictExempt
		}
	}
}

// keepLowest records id (and its source) in *best when it precedes it.
func keepLowest(best *ruleID, bestSrc *string, id ruleID, src string) bool {
	if *best >= 0 && *best <= id {
		return false
	}
	*best, *bestSrc = id, src
	return true
}

// result applies the precedence: deny, then default posture, then audit,
// then permit, then no match.
func (ev *evaluation) result(class policy.Class) Decision {
	rs := ev.rs
	switch {
	case ev.deny >= 0:
		return withSource(rs.rules[ev.deny].hit, ev.denySrc)
	case ev.permit < 0 && class != policy.ClassSyscalls && rs.allowList[class.PostureClass()]:
		if ev.audit >= 0 && rs.postures.of(class) == PostureAudit {
			return withSource(rs.rules[ev.audit].hit, ev.auditSrc)
		}
		return rs.posture[class.PostureClass()]
	case ev.audit >= 0:
		return withSource(rs.rules[ev.audit].hit, ev.auditSrc)
	case ev.permit >= 0 && ev.permitExempt:
		return withSource(rs.rules[ev.permit].exempt, ev.permitSrc)
	case ev.permit >= 0:
		return withSource(rs.rules[ev.permit].hit, ev.permitSrc)
	}
	return noMatch
}

func withSource(d Decision, src string) Decision {
	d.FromSource = src
	return d
}
