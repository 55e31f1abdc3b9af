package bpflsm

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
)

// WorkloadID is a workload's cgroup v2 id, the value of
// bpf_get_current_cgroup_id() for its tasks. HostWorkload (0, which no
// cgroup has) holds the rules of every task outside a registered cgroup.
type WorkloadID uint64

// HostWorkload is the key of the host's rules.
const HostWorkload WorkloadID = 0

// Policy modes in the workloads map (enum mode).
const (
	modeEnabled  = 0
	modeAudited  = 1
	modeDisabled = 2
)

// tables owns the decision maps (workloads, rules, dfa) and implements the
// atomic per-workload update shared by Enforcer and Harness.
//
// Apply writes the complete new state under a fresh generation number (the
// rules-map keys carry it, DFA rows are fresh slots), then replaces the
// workload's one workloads-map value, which switches every lookup to the new
// generation at once. It then updates the barrier map-in-map, for which the
// kernel waits an RCU grace period (maybe_wait_bpf_programs): after it no
// running program can still hold the old generation, whose entries are
// deleted last. At no moment does a program see a mix of generations or a
// workload without rules.
type tables struct {
	mu                          sync.Mutex
	workloads, rules, dfa       *ebpf.Map
	barrier, barrierInner       *ebpf.Map
	seed                        Seed
	gen                         uint32
	applied                     map[WorkloadID]*appliedSpec
	provenance                  map[uint32]*Spec
	retired                     []uint32
	freeRows                    []uint32
	nextRow, maxRows            uint32
	ruleEntries, maxRuleEntries int
}

type appliedSpec struct {
	gen  uint32
	spec *Spec
	rows []uint32
	keys []bulwarkRuleKey
}

// retainedGenerations is how many replaced generations keep their
// provenance, for events still in the ring buffer.
const retainedGenerations = 256

func (t *tables) init(workloads, rules, dfa, barrier *ebpf.Map, seed Seed) error {
	t.workloads, t.rules, t.dfa, t.barrier, t.seed = workloads, rules, dfa, barrier, seed
	t.applied = make(map[WorkloadID]*appliedSpec)
	t.provenance = make(map[uint32]*Spec)
	t.nextRow = 1 // row 0 is the dead state
	t.maxRows = dfa.MaxEntries()
	t.maxRuleEntries = int(rules.MaxEntries())
	if barrier != nil {
		inner, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			return fmt.Errorf("barrier inner map: %w", err)
		}
		t.barrierInner = inner
	}
	return nil
}

func (t *tables) close() error {
	if t.barrierInner != nil {
		return t.barrierInner.Close()
	}
	return nil
}

func (t *tables) allocRows(n int) ([]uint32, error) {
	rows := make([]uint32, 0, n)
	for len(rows) < n {
		if k := len(t.freeRows); k > 0 {
			rows = append(rows, t.freeRows[k-1])
			t.freeRows = t.freeRows[:k-1]
			continue
		}
		if t.nextRow >= t.maxRows {
			t.freeRows = append(t.freeRows, rows...)
			return nil, fmt.Errorf("bpflsm: DFA map full (%d rows)", t.maxRows)
		}
		rows = append(rows, t.nextRow)
		t.nextRow++
	}
	return rows, nil
}

// wait returns once no BPF program can still be using values it read
// before the call (an RCU grace period).
func (t *tables) wait() error {
	if t.barrier == nil {
		return nil
	}
	if err := t.barrier.Put(uint32(0), t.barrierInner); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	return nil
}

// apply installs spec for workload id atomically (see tables).
func (t *tables) apply(id WorkloadID, spec *Spec) (err error) {
	if spec.Seed != t.seed {
		return errors.New("bpflsm: spec compiled with another hash seed (use Enforcer.CompileOptions)")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(spec.Entries)+t.ruleEntries > t.maxRuleEntries {
		return fmt.Errorf("bpflsm: rules map full: %d entries in use, %d more needed, capacity %d", t.ruleEntries, len(spec.Entries), t.maxRuleEntries)
	}
	t.gen++
	if t.gen == 0 {
		t.gen = 1
	}
	a := &appliedSpec{gen: t.gen, spec: spec}
	defer func() {
		if err != nil {
			t.deleteEntries(a)
		}
	}()

	// DFA rows, relocated to their global slots.
	var wl bulwarkWorkload
	wl.Gen = a.gen
	for cl := ClassProcess; cl <= ClassFile; cl++ {
		d := spec.DFA[cl]
		if d == nil || len(d.Rows) == 0 {
			continue
		}
		rows, err := t.allocRows(len(d.Rows))
		if err != nil {
			return err
		}
		a.rows = append(a.rows, rows...)
		for i := range d.Rows {
			var row bulwarkDfaRow
			for c, next := range d.Rows[i] {
				if next != 0 {
					row.Next[c] = rows[next-1]
				}
			}
			row.Accept = d.Accept[i]
			if err := t.dfa.Put(rows[i], &row); err != nil {
				return fmt.Errorf("bpflsm: write DFA row: %w", err)
			}
		}
		wl.Dfa[cl] = rows[0]
	}

	// Rule entries under the new generation.
	keys := make([]bulwarkRuleKey, len(spec.Entries))
	vals := make([]bulwarkRuleVal, len(spec.Entries))
	for i := range spec.Entries {
		e := &spec.Entries[i]
		keys[i] = bulwarkRuleKey{Gen: a.gen, Kind: e.Kind(), Target: e.TargetHash, Src: e.SourceHash}
		vals[i].Check = e.Check
		for c, v := range e.Verdicts {
			vals[i].V[c].Deny, vals[i].V[c].Audit, vals[i].V[c].Permit = v.Deny, v.Audit, v.Permit
		}
	}
	if err := t.putRules(keys, vals, a); err != nil {
		return err
	}

	switch spec.Mode {
	case "audited":
		wl.Mode = modeAudited
	case "disabled":
		wl.Mode = modeDisabled
	default:
		wl.Mode = modeEnabled
	}
	wl.Allowlist, wl.BlockPosture, wl.HasSrc = spec.AllowList, spec.BlockPosture, spec.HasSource
	if err := t.workloads.Put(uint64(id), &wl); err != nil {
		return fmt.Errorf("bpflsm: switch workload %d: %w", id, err)
	}
	t.provenance[a.gen] = spec
	old := t.applied[id]
	t.applied[id] = a
	if old != nil {
		t.retire(old)
	}
	return nil
}

func (t *tables) putRules(keys []bulwarkRuleKey, vals []bulwarkRuleVal, a *appliedSpec) error {
	const chunk = 4096
	for len(keys) > 0 {
		n := min(chunk, len(keys))
		if _, err := t.rules.BatchUpdate(keys[:n], vals[:n], nil); err != nil {
			if !errors.Is(err, ebpf.ErrNotSupported) {
				return fmt.Errorf("bpflsm: write rules: %w", err)
			}
			for i := range n {
				if err := t.rules.Put(&keys[i], &vals[i]); err != nil {
					return fmt.Errorf("bpflsm: write rules: %w", err)
				}
				a.keys = append(a.keys, keys[i])
				t.ruleEntries++
			}
		} else {
			a.keys = append(a.keys, keys[:n]...)
			t.ruleEntries += n
		}
		keys, vals = keys[n:], vals[n:]
	}
	return nil
}

// retire waits for running programs to drop old, then deletes its entries.
func (t *tables) retire(old *appliedSpec) {
	if err := t.wait(); err != nil {
		// Without the barrier, leave the old entries in place: stale
		// entries under a dead generation are never looked up.
		return
	}
	t.deleteEntries(old)
	t.retired = append(t.retired, old.gen)
	if len(t.retired) > retainedGenerations {
		delete(t.provenance, t.retired[0])
		t.retired = t.retired[1:]
	}
}

func (t *tables) deleteEntries(a *appliedSpec) {
	for _, k := range a.keys {
		if err := t.rules.Delete(&k); err == nil {
			t.ruleEntries--
		}
	}
	a.keys = nil
	t.freeRows = append(t.freeRows, a.rows...)
	a.rows = nil
}

// remove deletes workload id's rules.
func (t *tables) remove(id WorkloadID) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.applied[id]
	if a == nil {
		return nil
	}
	if err := t.workloads.Delete(uint64(id)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("bpflsm: remove workload %d: %w", id, err)
	}
	delete(t.applied, id)
	t.retire(a)
	return nil
}

// spec returns the spec of generation gen, if still known.
func (t *tables) spec(gen uint32) *Spec {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.provenance[gen]
}

// Usage is how full the decision maps are.
type Usage struct {
	Workloads, MaxWorkloads     int
	RuleEntries, MaxRuleEntries int
	DFARows, MaxDFARows         int
}

func (t *tables) usage() Usage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Usage{
		Workloads: len(t.applied), MaxWorkloads: int(t.workloads.MaxEntries()),
		RuleEntries: t.ruleEntries, MaxRuleEntries: t.maxRuleEntries,
		DFARows: int(t.nextRow) - 1 - len(t.freeRows), MaxDFARows: int(t.maxRows) - 1,
	}
}
