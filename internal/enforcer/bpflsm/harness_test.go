package bpflsm

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

func newHarness(t testing.TB, opts Options) *Harness {
	t.Helper()
	h, err := NewHarness(opts)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			t.Skipf("cannot load the harness: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestHarnessAgreesWithEngine is the kernel-side differential test without
// hooks: random policy sets, every operation decided by the kernel's
// decision functions (BPF_PROG_TEST_RUN) and by engine.Decide.
func TestHarnessAgreesWithEngine(t *testing.T) {
	h := newHarness(t, Options{MaxRuleEntries: 1 << 16})
	tree := newDiffTree("/srv/diff")
	g := &diffGen{r: rand.New(rand.NewPCG(1, 2)), tree: tree}
	classes := []policy.Class{policy.ClassProcess, policy.ClassFile, policy.ClassFile, policy.ClassNetwork, policy.ClassCapabilities}
	sets, ops := 300, 0
	if testing.Short() {
		sets = 50
	}
	for set := range sets {
		ps := g.policies(classes, 8)
		w := g.workload()
		rs := engine.Compile(ps, w)
		spec, err := Compile(rs, h.CompileOptions())
		if err != nil {
			t.Fatal(err)
		}
		id := WorkloadID(100 + set%7)
		if err := h.Apply(id, spec); err != nil {
			t.Fatal(err)
		}
		fail := func(op engine.Operation, combo int, got Action, rule uint32, d engine.Decision, why string) {
			t.Helper()
			t.Fatalf("set %d: %+v combo %d: kernel %d rule %d, engine %s (%s): %s\n%s", set, op, combo, got, rule, d.Action, d.Reason, why, describePolicies(ps, w))
		}
		for range 60 {
			combo := g.r.IntN(4) // no tty: pts is not generated
			op := engine.Operation{UID: 0, OwnerKnown: true, Owner: 1000, Write: combo&ComboWrite != 0}
			if combo&ComboOwner != 0 {
				op.Owner = 0
			}
			if g.r.IntN(5) != 0 {
				op.Source = g.pick(tree.Sources)
			}
			req := Request{Workload: id, Combo: combo, Source: op.Source}
			switch k := g.r.IntN(8); {
			case k < 3:
				op.Kind, req.Class = engine.OpProcess, ClassProcess
				op.Path = g.pick(tree.Files)
				op.Write, req.Combo = false, combo&^ComboWrite
			case k < 6:
				op.Kind, req.Class = engine.OpFile, ClassFile
				op.Path = g.pick(append(tree.Files, tree.Dirs[1]+"zz"))
			case k < 7:
				op.Kind, req.Class = engine.OpNetwork, ClassNetwork
				proto := g.pick([]string{"tcp", "udp", "icmp", "raw"})
				typ := map[string]string{"tcp": "stream", "udp": "dgram", "icmp": "raw", "raw": "raw"}[proto]
				op.Protocol, op.SocketType = proto, typ
				op.OwnerKnown, op.Write = false, false
				req.Combo = 0
				req.Names = [3]uint8{NetworkName(proto), NetworkName(typ), NetworkName("all")}
			default:
				op.Kind, req.Class = engine.OpCapabilities, ClassCapabilities
				op.Capability = g.pick([]string{"net_raw", "chown", "sys_admin", "kill"})
				op.OwnerKnown, op.Write = false, false
				req.Combo = 0
				req.Names = [3]uint8{CapabilityName(op.Capability)}
			}
			req.Path = op.Path
			d := rs.Decide(op)
			got, rule, _, err := h.Decide(&req, 1)
			if err != nil {
				t.Fatal(err)
			}
			ops++
			if want := kernelAction(d); got != want {
				fail(op, req.Combo, got, rule, d, "action differs")
			}
			if got != ActionNone {
				if why := checkProvenance(spec, rule, d); why != "" {
					fail(op, req.Combo, got, rule, d, why)
				}
			}
		}
	}
	u := h.Usage()
	t.Logf("%d policy sets, %d operations agree; usage %+v", sets, ops, u)
}
