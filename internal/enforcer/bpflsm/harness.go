package bpflsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// Harness runs the kernel's decision logic (the same functions the LSM
// programs call) in a socket filter through BPF_PROG_TEST_RUN. It loads
// where BPF-LSM cannot, and gives native per-decision timings and a
// kernel-side check of the encoding without hooks.
type Harness struct {
	tables
	objs struct {
		Prog      *ebpf.Program `ebpf:"bulwark_harness"`
		Workloads *ebpf.Map     `ebpf:"workloads"`
		Rules     *ebpf.Map     `ebpf:"rules"`
		Dfa       *ebpf.Map     `ebpf:"dfa"`
		Config    *ebpf.Map     `ebpf:"bw_config"`
		Barrier   *ebpf.Map     `ebpf:"barrier"`
	}
	buf []byte
}

// NewHarness loads the harness program and the decision maps.
func NewHarness(opts Options) (*Harness, error) {
	opts.defaults()
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("bpflsm: memlock: %w", err)
	}
	spec, err := loadSpec(&opts)
	if err != nil {
		return nil, err
	}
	h := &Harness{}
	if err := spec.LoadAndAssign(&h.objs, nil); err != nil {
		return nil, fmt.Errorf("bpflsm: load harness: %w", err)
	}
	seed := DefaultSeed
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	if err := h.tables.init(h.objs.Workloads, h.objs.Rules, h.objs.Dfa, h.objs.Barrier, seed); err != nil {
		h.Close()
		return nil, err
	}
	if err := writeConfig(h.objs.Config, seed, &opts); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// CompileOptions returns the options to compile specs for this harness.
func (h *Harness) CompileOptions() CompileOptions {
	return CompileOptions{Seed: h.seed, MaxDFAStates: int(h.maxRows) - 1}
}

// Apply installs spec for workload id, as Enforcer.Apply does.
func (h *Harness) Apply(id WorkloadID, spec *Spec) error { return h.apply(id, spec) }

// Remove removes workload id.
func (h *Harness) Remove(id WorkloadID) error { return h.remove(id) }

// Usage reports how full the maps are.
func (h *Harness) Usage() Usage { return h.usage() }

// Request is one decision for the harness. For process and file classes
// Path is the target; for network and capabilities Names holds up to three
// name ids (see NetworkNames, CapabilityName).
type Request struct {
	Workload WorkloadID
	Class    Class
	Combo    int
	Path     string
	Names    [3]uint8
	Source   string
}

func (h *Harness) packet(r *Request) []byte {
	// BPF_PROG_TEST_RUN treats the data as an Ethernet frame and the
	// program sees it after the 14-byte header.
	b := append(h.buf[:0], make([]byte, 14)...)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Workload))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Class))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Combo))
	path := r.Path
	if r.Class == ClassNetwork || r.Class == ClassCapabilities {
		path = string(r.Names[:])
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(path)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Source)))
	b = append(b, path...)
	b = append(b, r.Source...)
	for len(b) < 64 {
		b = append(b, 0)
	}
	h.buf = b
	return b
}

// Decide runs one decision, repeated repeat times (at least once), and
// returns its action, rule id and the kernel's mean time per run.
func (h *Harness) Decide(r *Request, repeat int) (Action, uint32, time.Duration, error) {
	if len(r.Path) >= pathMax || len(r.Source) >= pathMax {
		return 0, 0, 0, errors.New("bpflsm: path too long for the harness")
	}
	ret, d, err := h.objs.Prog.Benchmark(h.packet(r), max(repeat, 1), nil)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("bpflsm: harness run: %w", err)
	}
	if int32(ret) == -1 {
		return 0, 0, 0, errors.New("bpflsm: harness rejected the request")
	}
	return Action(ret >> 24), ret & 0xffffff, d, nil
}

// NetworkName returns the kernel's name id of a protocol or socket type
// name (0: unknown).
func NetworkName(name string) uint8 { return uint8(netNames[name]) }

// CapabilityName returns the kernel's name id of a capability (0: unknown).
func CapabilityName(name string) uint8 {
	n, ok := capNumbers[name]
	if !ok {
		return 0
	}
	return uint8(n + 1)
}

// Close frees the harness.
func (h *Harness) Close() error {
	return errors.Join(h.tables.close(), h.objs.Prog.Close(), h.objs.Workloads.Close(), h.objs.Rules.Close(),
		h.objs.Dfa.Close(), h.objs.Config.Close(), h.objs.Barrier.Close())
}
