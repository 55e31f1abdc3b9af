package monitor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/bulwark-security/bulwark/internal/jsonline"
)

func BenchmarkDecode(b *testing.B) {
	raw := record(KindSyscall, FlagHost, sysOpenat, 3, [6]uint64{^uint64(99), 0, 0x80000}, "/usr/lib/x86_64-linux-gnu/libc.so.6\x00", "", "", "")
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(raw, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToLogJSON(b *testing.B) {
	raw := record(KindSyscall, FlagHost, sysOpenat, 3, [6]uint64{^uint64(99), 0, 0x80000}, "/usr/lib/x86_64-linux-gnu/libc.so.6\x00", "", "", "")
	var ev Event
	tr := NewTree(TreeOptions{})
	tr.Apply(execEv(100, 1, "/usr/bin/cat", "/etc/hostname"))
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		Decode(raw, &ev)
		tr.Apply(&ev)
		tr.Enrich(&ev)
		line = append(jsonline.AppendLog(line[:0], ToLog(&ev)), '\n')
		if _, err := io.Discard.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is user+system CPU of who (RUSAGE_SELF or RUSAGE_CHILDREN).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU runs a command and returns the CPU time it and its reaped
// descendants used.
func childCPU(t testing.TB, name string, args ...string) time.Duration {
	before := cpuTime(syscall.RUSAGE_CHILDREN)
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", name, err, out)
	}
	return cpuTime(syscall.RUSAGE_CHILDREN) - before
}

// attachFloor attaches empty programs ("return 0") to the monitor's
// attach points: the floor of any program there.
func attachFloor(t testing.TB) func() {
	var closers []io.Closer
	for _, tp := range []string{"sched_process_exec", "sched_process_fork", "sched_process_exit", "cap_capable", "sys_enter", "sys_exit"} {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "floor", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp, License: "Dual BSD/GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			t.Fatalf("load floor %s: %v", tp, err)
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			t.Fatalf("attach floor %s: %v", tp, err)
		}
		closers = append(closers, l, prog)
	}
	return func() {
		for _, c := range closers {
			c.Close()
		}
	}
}

// runMonitor starts a monitor whose handler is h, and returns its stop.
func runMonitor(t testing.TB, opts Options) (*Monitor, func()) {
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Start(ctx); close(done) }()
	return m, func() { cancel(); <-done; m.Close() }
}

// TestOverheadAndThroughput measures, in one run, the CPU cost of
// open+close and fork+exec under four configurations, and the monitor's
// sustained end-to-end rate. It takes about a minute; set
// BULWARK_MONITOR_BENCH=1 to run it (=e2e: the end-to-end part only; with
// BULWARK_MONITOR_CPUPROFILE=FILE and BULWARK_MONITOR_BPFSTATS=1 as below).
// The end-to-end part also logs, per event, the bytes the test process
// allocated, its GC cycles and context switches: the consumer's CPU per
// event is inflated by other load on the machine, so read it with the
// load average it logs.
func TestOverheadAndThroughput(t *testing.T) {
	if os.Getenv("BULWARK_MONITOR_BENCH") == "" {
		t.Skip("set BULWARK_MONITOR_BENCH=1 to measure")
	}
	probe := buildProbe(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	const opens = 300000
	const execs = 1000
	const rounds = 3
	loop := fmt.Sprintf("i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done", execs)

	counting := func(v Visibility) func() func() {
		return func() func() {
			_, stop := runMonitor(t, Options{HostVisibility: v, Handler: func(*Event) {}})
			return stop
		}
	}
	configs := []struct {
		name  string
		setup func() func()
	}{
		{"baseline", func() func() { return func() {} }},
		{"floor", func() func() { return attachFloor(t) }},
		{"file off", counting(VisibilityAll &^ VisibilityFile)},
		{"file on", counting(VisibilityAll)},
	}
	if os.Getenv("BULWARK_MONITOR_BENCH") == "e2e" {
		configs = nil
	}
	openCPU := make([][]float64, len(configs))
	execCPU := make([][]float64, len(configs))
	for range rounds {
		for i, c := range configs {
			stop := c.setup()
			d := childCPU(t, probe, "loop-open", file, fmt.Sprint(opens))
			openCPU[i] = append(openCPU[i], float64(d.Nanoseconds())/opens)
			d = childCPU(t, "/bin/sh", "-c", loop)
			execCPU[i] = append(execCPU[i], float64(d.Nanoseconds())/execs)
			stop()
		}
	}
	median := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	t.Logf("%-10s %14s %8s %8s %16s %8s %8s", "config", "open+close ns", "/base", "/floor", "fork+exec µs", "/base", "/floor")
	for i, c := range configs {
		o, e := median(openCPU[i]), median(execCPU[i])
		t.Logf("%-10s %14.0f %8.3f %8.3f %16.1f %8.3f %8.3f", c.name, o, o/median(openCPU[0]), o/median(openCPU[1]),
			e/1000, e/median(execCPU[0]), e/median(execCPU[1]))
	}

	// Sustained end to end: kernel → decoded → enriched → JSON line.
	// BULWARK_MONITOR_CPUPROFILE=FILE writes the test process's CPU
	// profile of this part.
	if prof := os.Getenv("BULWARK_MONITOR_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	// BULWARK_MONITOR_BPFSTATS=1 enables the kernel's BPF run-time
	// statistics for this part (they cost the programs two clock reads)
	// and logs the syscall programs' time per run.
	if os.Getenv("BULWARK_MONITOR_BPFSTATS") != "" {
		st, err := ebpf.EnableStats(0) // BPF_STATS_RUN_TIME
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
	}
	for _, workers := range []int{1, 2} {
		var events atomic.Uint64
		w := bufio.NewWriterSize(io.Discard, 1<<16)
		var line []byte
		m, stop := runMonitor(t, Options{Handler: func(ev *Event) {
			if l := ToLog(ev); l != nil {
				line = append(jsonline.AppendLog(line[:0], l), '\n')
				w.Write(line)
			}
			events.Add(1)
		}})
		progStats := func() (runs [2]uint64, ns [2]time.Duration) {
			for i, p := range []*ebpf.Program{m.objs.HandleSysEnter, m.objs.HandleSysExit} {
				if st, err := p.Stats(); err == nil {
					runs[i], ns[i] = st.RunCount, st.Runtime
				}
			}
			return runs, ns
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		gcBefore, allocBefore := ms.NumGC, ms.TotalAlloc
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		csBefore := ru.Nvcsw + ru.Nivcsw
		runsBefore, nsBefore := progStats()
		selfBefore := cpuTime(syscall.RUSAGE_SELF)
		start := time.Now()
		errs := make(chan error, workers)
		for range workers {
			go func() { errs <- exec.Command(probe, "loop-open", file, fmt.Sprint(opens)).Run() }()
		}
		for range workers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		writers := time.Since(start)
		// Let the reader drain: the ring empty and no event delivered
		// for 50ms.
		for last := uint64(0); ; {
			time.Sleep(50 * time.Millisecond)
			n := events.Load()
			if n == last && m.reader.AvailableBytes() == 0 {
				break
			}
			last = n
		}
		wall := time.Since(start)
		consumer := cpuTime(syscall.RUSAGE_SELF) - selfBefore
		runsAfter, nsAfter := progStats()
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		runtime.ReadMemStats(&ms)
		drops, _ := m.Drops()
		n := events.Load()
		stop()
		load, _ := os.ReadFile("/proc/loadavg")
		t.Logf("end to end, %d writer(s): %d events in %v (writers %v) = %.0f events/s; consumer CPU %.2f µs/event; drops ring=%d pending=%d; offered %d opens",
			workers, n, wall.Round(time.Millisecond), writers.Round(time.Millisecond), float64(n)/wall.Seconds(),
			float64(consumer.Nanoseconds())/float64(n)/1000, drops.RingFull, drops.PendingFull, workers*opens)
		t.Logf("    per event: %.0f bytes allocated; GC cycles %d; context switches %.3f; load %s",
			float64(ms.TotalAlloc-allocBefore)/float64(n), ms.NumGC-gcBefore,
			float64(ru.Nvcsw+ru.Nivcsw-csBefore)/float64(n), strings.Fields(string(load))[0])
		if runsAfter[0] > runsBefore[0] {
			per := func(i int) float64 {
				return float64(nsAfter[i]-nsBefore[i]) / float64(runsAfter[i]-runsBefore[i])
			}
			t.Logf("    kernel: sys_enter %.0f ns/run × %d, sys_exit %.0f ns/run × %d",
				per(0), runsAfter[0]-runsBefore[0], per(1), runsAfter[1]-runsBefore[1])
		}
	}
}
