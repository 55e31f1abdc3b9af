package agent

import (
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
)

func TestConclude(t *testing.T) {
	const appArmor = "AppArmor"
	policyDecision := func(a engine.Action) *engine.Decision {
		return &engine.Decision{Action: a, Source: engine.SourcePolicy, PolicyName: "p", Alert: a != engine.ActionAllow && a != engine.ActionAuditAllow}
	}
	posture := func(a engine.Action) *engine.Decision {
		return &engine.Decision{Action: a, Source: engine.SourceDefaultPosture, PolicyName: engine.DefaultPosturePolicyName, Alert: true}
	}
	none := &engine.Decision{Action: engine.ActionAllow, Source: engine.SourceNone}
	syscallDecision := policyDecision(engine.ActionAudit)
	syscallDecision.Rule = &engine.RuleRef{Section: "syscalls.matchSyscalls"}
	for _, c := range []struct {
		name           string
		d              *engine.Decision
		passed         bool
		enforcer       string
		enforcerAlerts bool
		want           conclusion
	}{
		{"no rule: a log", none, true, MonitorEnforcerName, true, concludeLog},
		{"allow rule passed: dropped", policyDecision(engine.ActionAllow), true, MonitorEnforcerName, true, concludeDrop},
		{"audit (allow) passed: dropped", policyDecision(engine.ActionAuditAllow), true, MonitorEnforcerName, true, concludeDrop},
		{"allow rule failed: a log", policyDecision(engine.ActionAllow), false, BPFLSMEnforcerName, true, concludeLog},
		{"audit: monitor alert", policyDecision(engine.ActionAudit), true, MonitorEnforcerName, true, concludeMonitorAlert},
		{"audit with BPF-LSM: the kernel reports it, a log", policyDecision(engine.ActionAudit), true, BPFLSMEnforcerName, true, concludeLog},
		{"audit with BPF-LSM without enforcerAlerts: monitor alert", policyDecision(engine.ActionAudit), true, BPFLSMEnforcerName, false, concludeMonitorAlert},
		{"syscall audit with BPF-LSM: monitor alert", syscallDecision, true, BPFLSMEnforcerName, true, concludeMonitorAlert},
		{"audit (block): monitor alert", policyDecision(engine.ActionAuditBlock), true, MonitorEnforcerName, true, concludeMonitorAlert},
		{"posture audit: monitor alert", posture(engine.ActionAudit), true, MonitorEnforcerName, true, concludeMonitorAlert},
		{"posture audit with BPF-LSM: the kernel reports it, a log", posture(engine.ActionAudit), true, BPFLSMEnforcerName, true, concludeLog},
		{"posture audit (block): monitor alert", posture(engine.ActionAuditBlock), true, MonitorEnforcerName, true, concludeMonitorAlert},
		{"block, BPF-LSM reports it: demoted to a log", policyDecision(engine.ActionBlock), false, BPFLSMEnforcerName, true, concludeLog},
		{"posture block, BPF-LSM reports it: demoted", posture(engine.ActionBlock), false, BPFLSMEnforcerName, true, concludeLog},
		{"block, BPF-LSM without enforcerAlerts: alert", policyDecision(engine.ActionBlock), false, BPFLSMEnforcerName, false, concludeEnforcerAlert},
		{"block denied under AppArmor: alert in its name", policyDecision(engine.ActionBlock), false, appArmor, true, concludeEnforcerAlert},
		{"posture block under AppArmor: alert", posture(engine.ActionBlock), false, appArmor, true, concludeEnforcerAlert},
		{"block that passed: a log", policyDecision(engine.ActionBlock), true, appArmor, true, concludeLog},
		{"block without an enforcer: a log", policyDecision(engine.ActionBlock), false, MonitorEnforcerName, false, concludeLog},
	} {
		if got := conclude(c.d, c.passed, c.enforcer, c.enforcerAlerts); got != c.want {
			t.Errorf("%s: conclude = %d, want %d", c.name, got, c.want)
		}
	}
}
