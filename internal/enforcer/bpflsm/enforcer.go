package bpflsm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/engine"
)

// Name is the enforcer's name in alerts.
const Name = "BPFLSM"

// ErrNotSupported is matched (errors.Is) by the error of New when BPF-LSM
// cannot be used on this kernel.
var ErrNotSupported = errors.New("BPF-LSM not supported")

// UnsupportedError says why BPF-LSM cannot be used.
type UnsupportedError struct {
	Reason string
	Err    error
}

func (e *UnsupportedError) Error() string {
	if e.Err != nil {
		return "bpflsm: " + e.Reason + ": " + e.Err.Error()
	}
	return "bpflsm: " + e.Reason
}

// Is makes errors.Is(err, ErrNotSupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrNotSupported }

func (e *UnsupportedError) Unwrap() error { return e.Err }

// Options configure an Enforcer. Zero fields take the documented defaults.
type Options struct {
	// MaxWorkloads is the workloads map size (default 4096).
	MaxWorkloads int
	// MaxRuleEntries is the rules map size, shared by all workloads; an
	// update needs room for the old and the new entries of one workload
	// (default 262144).
	MaxRuleEntries int
	// MaxDFARows is the pattern DFA map size, shared (default 8192).
	MaxDFARows int
	// RingBufferBytes is the event ring size, a power of two (default 4 MiB).
	RingBufferBytes int
	// WakeupBytes: Audit events are written without waking the reader until
	// this much is pending (default 64 KiB); Block events always wake it.
	WakeupBytes int
	// FlushInterval bounds the latency of events written without a wake-up
	// (default 100 ms).
	FlushInterval time.Duration
	// RuleEventsPerSecond limits events per workload, rule and action
	// (default 10, negative: unlimited). WorkloadEventsPerSecond limits the
	// non-Block events of a workload (default 100, negative: unlimited).
	RuleEventsPerSecond, WorkloadEventsPerSecond int
	// Seed for path hashes; nil draws a random one.
	Seed *Seed
	// LSMFile is the active LSM list (default /sys/kernel/security/lsm).
	LSMFile string
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxWorkloads, 4096)
	def(&o.MaxRuleEntries, 262144)
	def(&o.MaxDFARows, 8192)
	def(&o.RingBufferBytes, 4<<20)
	def(&o.WakeupBytes, 64<<10)
	def(&o.RuleEventsPerSecond, 10)
	def(&o.WorkloadEventsPerSecond, 100)
	if o.FlushInterval == 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.LSMFile == "" {
		o.LSMFile = "/sys/kernel/security/lsm"
	}
}

func randomSeed() Seed {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return Seed{H1: binary.LittleEndian.Uint64(b[:8]), H2: binary.LittleEndian.Uint64(b[8:])}
}

// Enforcer is the loaded and attached BPF-LSM enforcer.
//
// Restart behaviour: nothing is pinned. When the agent stops or crashes,
// its links and maps are released and enforcement stops (fail-open) until
// the restarted agent calls New and Apply again. Pinning would keep denying
// after a crash, but with nobody left to decode the events (rule ids mean
// nothing without the agent's provenance tables), to follow workloads
// ending, or to update policies; a clean restart is seconds away under a
// DaemonSet.
type Enforcer struct {
	tables
	opts   Options
	objs   lsmObjects
	links  []link.Link
	reader *Reader
}

// lsmObjects are the LSM programs and the maps: everything but the
// harness, which the enforcer does not load.
type lsmObjects struct {
	bulwarkMaps
	BulwarkBprmCheck     *ebpf.Program `ebpf:"bulwark_bprm_check"`
	BulwarkCapable       *ebpf.Program `ebpf:"bulwark_capable"`
	BulwarkFileOpen      *ebpf.Program `ebpf:"bulwark_file_open"`
	BulwarkPathChmod     *ebpf.Program `ebpf:"bulwark_path_chmod"`
	BulwarkPathLink      *ebpf.Program `ebpf:"bulwark_path_link"`
	BulwarkPathMkdir     *ebpf.Program `ebpf:"bulwark_path_mkdir"`
	BulwarkPathMknod     *ebpf.Program `ebpf:"bulwark_path_mknod"`
	BulwarkPathRename    *ebpf.Program `ebpf:"bulwark_path_rename"`
	BulwarkPathRmdir     *ebpf.Program `ebpf:"bulwark_path_rmdir"`
	BulwarkPathSymlink   *ebpf.Program `ebpf:"bulwark_path_symlink"`
	BulwarkPathTruncate  *ebpf.Program `ebpf:"bulwark_path_truncate"`
	BulwarkPathUnlink    *ebpf.Program `ebpf:"bulwark_path_unlink"`
	BulwarkSocketAccept  *ebpf.Program `ebpf:"bulwark_socket_accept"`
	BulwarkSocketConnect *ebpf.Program `ebpf:"bulwark_socket_connect"`
	BulwarkSocketCreate  *ebpf.Program `ebpf:"bulwark_socket_create"`
}

func (o *lsmObjects) Close() error {
	errs := []error{o.bulwarkMaps.Close()}
	for _, p := range o.programs() {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

func (o *lsmObjects) programs() []*ebpf.Program {
	return []*ebpf.Program{
		o.BulwarkBprmCheck, o.BulwarkFileOpen,
		o.BulwarkPathUnlink, o.BulwarkPathMkdir, o.BulwarkPathRmdir,
		o.BulwarkPathRename, o.BulwarkPathTruncate, o.BulwarkPathChmod,
		o.BulwarkPathLink, o.BulwarkPathSymlink, o.BulwarkPathMknod,
		o.BulwarkSocketCreate, o.BulwarkSocketConnect, o.BulwarkSocketAccept,
		o.BulwarkCapable,
	}
}

// lsmActive reports whether "bpf" is in the active LSM list.
func lsmActive(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return &UnsupportedError{Reason: "cannot read the active LSM list (is securityfs mounted?)", Err: err}
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if l == "bpf" {
			return nil
		}
	}
	return &UnsupportedError{Reason: fmt.Sprintf("bpf is not in the active LSM list %q (boot with lsm=...,bpf)", strings.TrimSpace(string(b)))}
}

// loadSpec returns the collection spec sized by opts.
func loadSpec(opts *Options) (*ebpf.CollectionSpec, error) {
	spec, err := loadBulwark()
	if err != nil {
		return nil, fmt.Errorf("bpflsm: load spec: %w", err)
	}
	spec.Maps["workloads"].MaxEntries = uint32(opts.MaxWorkloads)
	spec.Maps["rules"].MaxEntries = uint32(opts.MaxRuleEntries)
	spec.Maps["dfa"].MaxEntries = uint32(opts.MaxDFARows + 1)
	spec.Maps["events"].MaxEntries = uint32(opts.RingBufferBytes)
	return spec, nil
}

// New loads the programs, attaches them to their LSM hooks and starts with
// no workloads: nothing is decided until Apply. It returns an error matching
// ErrNotSupported when BPF-LSM cannot be used, saying why.
func New(opts Options) (*Enforcer, error) {
	opts.defaults()
	if err := lsmActive(opts.LSMFile); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("bpflsm: memlock: %w", err)
	}
	spec, err := loadSpec(&opts)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{opts: opts}
	if err := spec.LoadAndAssign(&e.objs, nil); err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, &UnsupportedError{Reason: "the kernel refused to load the BPF-LSM programs (EPERM: lockdown, a security module or missing CAP_BPF/CAP_MAC_ADMIN)", Err: err}
		}
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.EINVAL) {
			return nil, &UnsupportedError{Reason: "the kernel cannot load BPF-LSM programs", Err: err}
		}
		return nil, fmt.Errorf("bpflsm: load: %w", err)
	}
	seed := randomSeed()
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	if err := e.tables.init(e.objs.Workloads, e.objs.Rules, e.objs.Dfa, e.objs.Barrier, seed); err != nil {
		e.objs.Close()
		return nil, err
	}
	if err := e.configure(); err != nil {
		e.Close()
		return nil, err
	}
	for _, p := range e.objs.programs() {
		l, err := link.AttachLSM(link.LSMOptions{Program: p})
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("bpflsm: attach %s: %w", p, err)
		}
		e.links = append(e.links, l)
	}
	rd, err := ringbuf.NewReader(e.objs.Events)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("bpflsm: ring buffer reader: %w", err)
	}
	e.reader = &Reader{rd: rd, interval: opts.FlushInterval}
	return e, nil
}

// config indexes (enum config).
const (
	cfgSeed1             = 0
	cfgSeed2             = 1
	cfgWakeupBytes       = 2
	cfgRulePerSecond     = 3
	cfgWorkloadPerSecond = 4
)

func limit(v int) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func writeConfig(m *ebpf.Map, seed Seed, opts *Options) error {
	for k, v := range map[uint32]uint64{
		cfgSeed1: seed.H1, cfgSeed2: seed.H2, cfgWakeupBytes: uint64(opts.WakeupBytes),
		cfgRulePerSecond: limit(opts.RuleEventsPerSecond), cfgWorkloadPerSecond: limit(opts.WorkloadEventsPerSecond),
	} {
		if err := m.Put(k, v); err != nil {
			return fmt.Errorf("bpflsm: write config: %w", err)
		}
	}
	return nil
}

func (e *Enforcer) configure() error { return writeConfig(e.objs.BwConfig, e.seed, &e.opts) }

// CompileOptions returns the options specs for this enforcer must be
// compiled with (its hash seed).
func (e *Enforcer) CompileOptions() CompileOptions {
	return CompileOptions{Seed: e.seed, MaxDFAStates: e.opts.MaxDFARows}
}

// Name returns "BPFLSM".
func (e *Enforcer) Name() string { return Name }

// Apply enforces spec for workload id, replacing its previous spec
// atomically; on error the previous spec stays in force.
func (e *Enforcer) Apply(id WorkloadID, spec *Spec) error { return e.apply(id, spec) }

// Remove stops enforcing for workload id (when it ends).
func (e *Enforcer) Remove(id WorkloadID) error { return e.remove(id) }

// Spec returns the spec of generation gen (from an Event), for provenance.
func (e *Enforcer) Spec(gen uint32) *Spec { return e.spec(gen) }

// Reader returns the enforcer's event reader.
func (e *Enforcer) Reader() *Reader { return e.reader }

// Usage reports how full the maps are.
func (e *Enforcer) Usage() Usage { return e.usage() }

// Counters are the kernel's totals since New.
type Counters struct {
	Decisions, Denied, Events        uint64
	RingBufferFull                   uint64 // events lost: ring full
	ThrottledRule, ThrottledWorkload uint64 // events dropped by throttling
	PathsTruncated                   uint64 // dentry walks that hit their bound
}

// Counters reads the kernel's counters.
func (e *Enforcer) Counters() (Counters, error) { return readCounters(e.objs.Counters) }

func readCounters(m *ebpf.Map) (Counters, error) {
	var c Counters
	for i, dst := range []*uint64{&c.Decisions, &c.Denied, &c.Events, &c.RingBufferFull, &c.ThrottledRule, &c.ThrottledWorkload, &c.PathsTruncated} {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return c, fmt.Errorf("bpflsm: read counters: %w", err)
		}
		for _, v := range per {
			*dst += v
		}
	}
	return c, nil
}

// Close detaches the programs and frees the maps; enforcement stops.
func (e *Enforcer) Close() error {
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	if e.reader != nil {
		errs = append(errs, e.reader.Close())
	}
	errs = append(errs, e.tables.close(), e.objs.Close())
	return errors.Join(errs...)
}

// Supported reports true: an Enforcer exists only where New succeeded
// (New's error says why not).
func (e *Enforcer) Supported() (bool, string) { return true, "" }

// ApplyRuleSet compiles rs with this enforcer's options and applies it to
// workload id: the agent's entry point.
func (e *Enforcer) ApplyRuleSet(id WorkloadID, rs *engine.RuleSet) error {
	spec, err := Compile(rs, e.CompileOptions())
	if err != nil {
		return err
	}
	return e.Apply(id, spec)
}
