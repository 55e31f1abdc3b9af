package agent_test

import (
	"errors"
	"testing"

	"github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/enforcer/bpflsm"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// TestDefaultEnforcersBPF: the build's enforcers have BPF-LSM under the
// probe's bpf candidate; where the kernel refuses it, the factory says why.
func TestDefaultEnforcersBPF(t *testing.T) {
	f, ok := agent.DefaultEnforcers()[probe.EnforcerBPF]
	if !ok {
		t.Fatal("DefaultEnforcers has no bpf enforcer")
	}
	e, err := f(agent.EnforcerOptions{Probe: probe.Host()})
	if err == nil {
		defer e.Close()
		if e.Name() != agent.BPFLSMEnforcerName {
			t.Errorf("name %q", e.Name())
		}
		t.Skip("BPF-LSM is usable on this host; its enforcement is tested in the kernel lab (test/e2e)")
	}
	if !errors.Is(err, bpflsm.ErrNotSupported) {
		t.Errorf("error %v does not say BPF-LSM is not supported", err)
	}
}
