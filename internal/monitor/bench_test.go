package monitor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// BULWARK_MONITOR_BENCH=1 to run it.
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
		// Let the reader drain.
		for last := uint64(0); ; {
			time.Sleep(50 * time.Millisecond)
			n := events.Load()
			if n == last {
				break
			}
			last = n
		}
		wall := time.Since(start)
		consumer := cpuTime(syscall.RUSAGE_SELF) - selfBefore
		drops, _ := m.Drops()
		n := events.Load()
		stop()
		t.Logf("end to end, %d writer(s): %d events in %v = %.0f events/s; consumer CPU %.2f µs/event; drops ring=%d pending=%d; offered %d opens",
			workers, n, wall.Round(time.Millisecond), float64(n)/wall.Seconds(), float64(consumer.Nanoseconds())/float64(n)/1000,
			drops.RingFull, drops.PendingFull, workers*opens)
	}
}
