package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// ErrNotSupported is returned (wrapped, naming what was refused) when the
// kernel cannot load or attach the monitor.
var ErrNotSupported = errors.New("not supported by this kernel")

// AttachPoint is one program's attach point.
type AttachPoint struct {
	Name string // e.g. "tp_btf/cap_capable"
	// Err is why it is not attached; nil when attached.
	Err error
}

// Stats are counters of the user-space side.
type Stats struct {
	Records   uint64 // records read from the ring buffer
	Malformed uint64 // records that did not decode
}

// Drops are the kernel's per-CPU drop counters, summed.
type Drops struct {
	RingFull    uint64 // records lost: ring buffer full
	PendingFull uint64 // syscalls lost: the enter/exit pairing table full
}

// Monitor is the loaded and attached system monitor.
type Monitor struct {
	opts    Options
	objs    monitorObjects
	links   []link.Link
	points  []AttachPoint
	reader  *ringbuf.Reader
	tree    *Tree
	bootOff int64

	records, malformed atomic.Uint64

	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// New loads the monitor's programs and attaches them. Programs whose attach
// point this kernel lacks (cap_capable before 6.x) are reported by
// AttachPoints and skipped; failing to attach any other is an error
// wrapping ErrNotSupported.
func New(opts Options) (*Monitor, error) {
	opts = opts.withDefaults()
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock rlimit: %w", err)
	}
	spec, err := loadMonitor()
	if err != nil {
		return nil, fmt.Errorf("load monitor spec: %w", err)
	}
	hostMnt, err := hostMountNS(opts.HostMountNS)
	if err != nil {
		return nil, err
	}
	wake := uint64(0)
	if opts.WakeupBytes > 0 {
		wake = uint64(opts.WakeupBytes)
	}
	consts := map[string]any{
		"host_mnt_ns":      hostMnt,
		"drop_enoent":      boolU32(!opts.ReportNotFound),
		"drop_einprogress": boolU32(!opts.ReportInProgress),
		"report_failures":  boolU32(opts.ReportFailures),
		"wakeup_bytes":     wake,
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set %s: %w", name, err)
		}
	}
	spec.Maps["events"].MaxEntries = uint32(opts.RingBufferSize)

	// tp_btf/cap_capable needs the cap_capable tracepoint (Linux 6.12+):
	// without it, load everything else and report the attach point.
	m := &Monitor{opts: opts}
	capErr := capableTracepoint()
	var loadErr error
	if capErr == nil {
		loadErr = spec.LoadAndAssign(&m.objs, nil)
	} else {
		var core coreObjects
		loadErr = spec.LoadAndAssign(&core, nil)
		m.objs.monitorMaps, m.objs.monitorVariables = core.monitorMaps, core.monitorVariables
		m.objs.HandleExec, m.objs.HandleFork, m.objs.HandleExit = core.HandleExec, core.HandleFork, core.HandleExit
		m.objs.HandleSysEnter, m.objs.HandleSysExit = core.HandleSysEnter, core.HandleSysExit
	}
	if err := loadErr; err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load monitor programs: %w (%w)", ErrNotSupported, err)
		}
		if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("load monitor programs: %w (%w)", ErrNotSupported, err)
		}
		return nil, fmt.Errorf("load monitor programs: %w", err)
	}
	if err := m.SetDefaultVisibility(opts.Visibility, opts.HostVisibility); err != nil {
		m.objs.Close()
		return nil, err
	}
	var ts syscall.Timespec
	if err := clockGettime(clockBoottime, &ts); err != nil {
		m.objs.Close()
		return nil, fmt.Errorf("read CLOCK_BOOTTIME: %w", err)
	}
	m.bootOff = time.Now().UnixNano() - ts.Nano()

	if opts.Tree.HostMountNS == 0 {
		opts.Tree.HostMountNS = hostMnt
	}
	m.tree = NewTree(opts.Tree)
	if !opts.NoSeed {
		if err := m.tree.Seed(); err != nil {
			m.objs.Close()
			return nil, fmt.Errorf("seed process tree: %w", err)
		}
	}

	m.reader, err = ringbuf.NewReader(m.objs.Events)
	if err != nil {
		m.objs.Close()
		return nil, fmt.Errorf("ring buffer reader: %w", err)
	}

	progs := []struct {
		name     string
		prog     *ebpf.Program
		optional bool
	}{
		{"tp_btf/sched_process_fork", m.objs.HandleFork, false},
		{"tp_btf/sched_process_exec", m.objs.HandleExec, false},
		{"tp_btf/sched_process_exit", m.objs.HandleExit, false},
		{"tp_btf/sys_enter", m.objs.HandleSysEnter, false},
		{"tp_btf/sys_exit", m.objs.HandleSysExit, false},
		{"tp_btf/cap_capable", m.objs.HandleCapable, true},
	}
	for _, p := range progs {
		if p.prog == nil {
			err := fmt.Errorf("attach %s: %w (%w)", p.name, ErrNotSupported, capErr)
			m.points = append(m.points, AttachPoint{Name: p.name, Err: err})
			opts.Logger.Warn("attach point unavailable", "attach", p.name, "error", err)
			continue
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			err = fmt.Errorf("attach %s: %w (%w)", p.name, ErrNotSupported, err)
			m.points = append(m.points, AttachPoint{Name: p.name, Err: err})
			if p.optional {
				opts.Logger.Warn("attach point unavailable", "attach", p.name, "error", err)
				continue
			}
			m.Close()
			return nil, err
		}
		m.links = append(m.links, l)
		m.points = append(m.points, AttachPoint{Name: p.name})
	}
	return m, nil
}

// coreObjects are the monitor's objects without tp_btf/cap_capable.
type coreObjects struct {
	monitorMaps
	monitorVariables
	HandleExec     *ebpf.Program `ebpf:"handle_exec"`
	HandleExit     *ebpf.Program `ebpf:"handle_exit"`
	HandleFork     *ebpf.Program `ebpf:"handle_fork"`
	HandleSysEnter *ebpf.Program `ebpf:"handle_sys_enter"`
	HandleSysExit  *ebpf.Program `ebpf:"handle_sys_exit"`
}

// capableTracepoint reports whether the kernel has the cap_capable
// tracepoint (BTF type btf_trace_cap_capable).
func capableTracepoint() error {
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		return fmt.Errorf("kernel BTF: %w", err)
	}
	if _, err := kspec.AnyTypeByName("btf_trace_cap_capable"); err != nil {
		return fmt.Errorf("no cap_capable tracepoint in kernel BTF: %w", err)
	}
	return nil
}

// hostMountNS returns the host's mount namespace inode: explicit, else
// PID 1's, else (PID 1 not inspectable) the monitor's own.
func hostMountNS(explicit uint64) (uint64, error) {
	if explicit != 0 {
		return explicit, nil
	}
	var st syscall.Stat_t
	err := syscall.Stat("/proc/1/ns/mnt", &st)
	if err != nil {
		err = syscall.Stat("/proc/self/ns/mnt", &st)
	}
	if err != nil {
		return 0, fmt.Errorf("host mount namespace: %w", err)
	}
	return st.Ino, nil
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// AttachPoints lists every attach point and whether it is attached.
func (m *Monitor) AttachPoints() []AttachPoint { return append([]AttachPoint(nil), m.points...) }

// Tree returns the monitor's process tree.
func (m *Monitor) Tree() *Tree { return m.tree }

// SetVisibility sets the visibility of one workload, by cgroup v2 id; it
// overrides the container and host defaults for tasks in that cgroup
// (not in its descendants).
func (m *Monitor) SetVisibility(cgroupID uint64, v Visibility) error {
	if cgroupID == 0 {
		return errors.New("set visibility: cgroup id 0")
	}
	if err := m.objs.Visibility.Put(cgroupID, v.kernelMask()); err != nil {
		return fmt.Errorf("set visibility of cgroup %d: %w", cgroupID, err)
	}
	return nil
}

// ClearVisibility returns a workload to the defaults.
func (m *Monitor) ClearVisibility(cgroupID uint64) error {
	if err := m.objs.Visibility.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("clear visibility of %d: %w", cgroupID, err)
	}
	return nil
}

// SetDefaultVisibility changes the container and host defaults.
// A zero Visibility is VisibilityNone here.
func (m *Monitor) SetDefaultVisibility(containers, host Visibility) error {
	if err := m.objs.DefaultVisibility.Set(containers.kernelMask()); err != nil {
		return fmt.Errorf("set default visibility: %w", err)
	}
	if err := m.objs.HostVisibility.Set(host.kernelMask()); err != nil {
		return fmt.Errorf("set host visibility: %w", err)
	}
	return nil
}

// SetEnabled switches every program to an early return (false) or back.
func (m *Monitor) SetEnabled(on bool) error {
	if err := m.objs.MonitorOff.Set(boolU32(!on)); err != nil {
		return fmt.Errorf("set monitor_off: %w", err)
	}
	return nil
}

// Drops reads the kernel's drop counters.
func (m *Monitor) Drops() (Drops, error) {
	var d Drops
	for i, dst := range []*uint64{&d.RingFull, &d.PendingFull} {
		var per []uint64
		if err := m.objs.Drops.Lookup(uint32(i), &per); err != nil {
			return Drops{}, fmt.Errorf("read drops: %w", err)
		}
		for _, v := range per {
			*dst += v
		}
	}
	return d, nil
}

// Stats returns user-space counters.
func (m *Monitor) Stats() Stats {
	return Stats{Records: m.records.Load(), Malformed: m.malformed.Load()}
}

// Start reads, decodes, enriches and delivers events until ctx is
// cancelled or the monitor is closed; it returns nil then. It may be
// called once.
func (m *Monitor) Start(ctx context.Context) error {
	err := errors.New("monitor: already started")
	m.startOnce.Do(func() { err = m.run(ctx) })
	return err
}

func (m *Monitor) run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			m.reader.Close()
		case <-done:
		}
	}()
	var (
		rec ringbuf.Record
		ev  Event
	)
	flush := m.opts.FlushInterval
	m.reader.SetDeadline(time.Now().Add(flush))
	for {
		err := m.reader.ReadInto(&rec)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				m.reader.SetDeadline(time.Now().Add(flush))
				continue
			}
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read ring buffer: %w", err)
		}
		m.records.Add(1)
		if err := Decode(rec.RawSample, &ev); err != nil {
			m.malformed.Add(1)
			continue
		}
		m.deliver(&ev)
	}
}

// deliver enriches one decoded event and hands it to the Handler.
func (m *Monitor) deliver(ev *Event) {
	ev.Time = time.Unix(0, int64(ev.BootNS)+m.bootOff)
	m.tree.applyEnrich(ev)
	if m.opts.Handler != nil {
		m.opts.Handler(ev)
	}
}

// Close detaches every program and frees the monitor's maps; Start
// returns.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		for _, l := range m.links {
			errs = append(errs, l.Close())
		}
		m.links = nil
		if m.reader != nil {
			errs = append(errs, m.reader.Close())
		}
		errs = append(errs, m.objs.Close())
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
