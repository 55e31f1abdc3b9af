package agent

import (
	"log/slog"
	"sync/atomic"

	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// Enforcer turns a compiled rule set into kernel enforcement. The agent
// calls Apply with every new rule set (never concurrently) and Close once
// at shutdown.
type Enforcer interface {
	// Name is stamped into alerts' Enforcer field (BPFLSM, AppArmor, or
	// eBPF Monitor for none).
	Name() string
	// Supported reports whether the enforcer can run on this host and, if
	// not, why.
	Supported() (ok bool, reason string)
	// Apply replaces the enforced rules with rs, atomically: on error the
	// previous rules stay in force.
	Apply(rs *engine.RuleSet) error
	// Close removes the enforcement.
	Close() error
}

// EnforcerOptions are what an EnforcerFactory gets.
type EnforcerOptions struct {
	Probe  *probe.Report
	Config *config.Config
	Logger *slog.Logger
}

// EnforcerFactory builds an enforcer. Factories are keyed by the lsm names
// of probe (bpf, apparmor, selinux).
type EnforcerFactory func(EnforcerOptions) (Enforcer, error)

// MonitorEnforcerName is the enforcer name when nothing is enforced, as
// KubeArmor stamps it.
const MonitorEnforcerName = "eBPF Monitor"

// NoneEnforcer enforces nothing: policies are only audited. It records the
// last rule set for inspection.
type NoneEnforcer struct {
	last atomic.Pointer[engine.RuleSet]
}

// Name implements Enforcer.
func (*NoneEnforcer) Name() string { return MonitorEnforcerName }

// Supported implements Enforcer: always.
func (*NoneEnforcer) Supported() (bool, string) { return true, "" }

// Apply implements Enforcer by remembering rs.
func (e *NoneEnforcer) Apply(rs *engine.RuleSet) error { e.last.Store(rs); return nil }

// Close implements Enforcer.
func (*NoneEnforcer) Close() error { return nil }

// RuleSet returns the last applied rule set.
func (e *NoneEnforcer) RuleSet() *engine.RuleSet { return e.last.Load() }
