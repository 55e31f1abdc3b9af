package monitor

import (
	"fmt"
	"os"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func forkEv(pid, ppid uint32) *Event {
	return &Event{Kind: KindFork, HostPID: pid, HostPPID: ppid, PID: pid, CgroupID: 1, Flags: FlagHost}
}

func execEv(pid, ppid uint32, exe string, args ...string) *Event {
	argv := exe + "\x00"
	for _, a := range args {
		argv += a + "\x00"
	}
	return &Event{Kind: KindExec, HostPID: pid, HostPPID: ppid, PID: pid, CgroupID: 1, Flags: FlagHost,
		Path: []byte(exe), Argv: []byte(argv), Cwd: []byte("/src"), BootNS: uint64(pid)}
}

func exitEv(pid uint32) *Event { return &Event{Kind: KindExit, HostPID: pid} }

func TestTreeAncestryAcrossForkAndExec(t *testing.T) {
	tr := NewTree(TreeOptions{})
	tr.Apply(execEv(1, 0, "/sbin/init"))
	tr.Apply(forkEv(10, 1))
	tr.Apply(execEv(10, 1, "/usr/bin/bash"))
	tr.Apply(forkEv(11, 10))
	if got := tr.Ancestry(11); got != "/sbin/init > /usr/bin/bash > /usr/bin/bash" {
		t.Errorf("forked child: %q", got)
	}
	tr.Apply(execEv(11, 10, "/usr/bin/make", "all"))
	tr.Apply(forkEv(12, 11))
	tr.Apply(execEv(12, 11, "/usr/bin/cc", "-c", "x.c"))
	if got := tr.Ancestry(12); got != "/sbin/init > /usr/bin/bash > /usr/bin/make > /usr/bin/cc" {
		t.Errorf("exec chain: %q", got)
	}
	ev := &Event{Kind: KindSyscall, HostPID: 12, HostPPID: 11}
	tr.Enrich(ev)
	if ev.Process.Exe != "/usr/bin/cc" || ev.Parent.Exe != "/usr/bin/make" || ev.Process.Cwd != "/src" ||
		len(ev.Process.Args) != 3 || ev.Ancestry != tr.Ancestry(12) || ev.Process.ExecID != "" {
		t.Errorf("enriched %+v", ev)
	}
}

func TestTreeAncestryStopsAtContainerBoundary(t *testing.T) {
	tr := NewTree(TreeOptions{})
	tr.Apply(execEv(1, 0, "/sbin/init"))
	tr.Apply(execEv(20, 1, "/usr/bin/containerd-shim"))
	// The container's first process: another cgroup, not on the host.
	c := &Event{Kind: KindExec, HostPID: 21, HostPPID: 20, PID: 1, CgroupID: 7, Path: []byte("/app/server")}
	tr.Apply(c)
	child := &Event{Kind: KindExec, HostPID: 22, HostPPID: 21, PID: 2, CgroupID: 7, Path: []byte("/bin/sh")}
	tr.Apply(child)
	if got := tr.Ancestry(22); got != "/app/server > /bin/sh" {
		t.Errorf("ancestry %q", got)
	}
}

func TestTreeReapsExitedAfterGrace(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	tr := NewTree(TreeOptions{ExitGrace: 5 * time.Second, Now: clk.now})
	tr.Apply(execEv(1, 0, "/sbin/init"))
	tr.Apply(forkEv(30, 1))
	tr.Apply(exitEv(30))
	if _, ok := tr.Lookup(30); !ok {
		t.Fatal("exited process gone before its grace period")
	}
	clk.t = clk.t.Add(4 * time.Second)
	tr.Reap()
	if _, ok := tr.Lookup(30); !ok {
		t.Fatal("reaped too early")
	}
	clk.t = clk.t.Add(2 * time.Second)
	tr.Reap()
	if _, ok := tr.Lookup(30); ok {
		t.Fatal("not reaped after the grace period")
	}
	if _, ok := tr.Lookup(1); !ok {
		t.Fatal("live process reaped")
	}
	// A pid reused after exit is not reaped by the old exit.
	tr.Apply(forkEv(31, 1))
	tr.Apply(exitEv(31))
	tr.Apply(forkEv(31, 1))
	clk.t = clk.t.Add(time.Minute)
	tr.Reap()
	if _, ok := tr.Lookup(31); !ok {
		t.Fatal("reused pid reaped")
	}
}

func TestTreeIsBoundedByLRU(t *testing.T) {
	tr := NewTree(TreeOptions{MaxProcesses: 100})
	tr.Apply(execEv(1, 0, "/sbin/init"))
	for pid := uint32(2); pid < 1000; pid++ {
		tr.Apply(forkEv(pid, 1))
		tr.Lookup(1) // keep init recent
	}
	if n := tr.Len(); n != 100 {
		t.Errorf("%d processes, cap 100", n)
	}
	if _, ok := tr.Lookup(1); !ok {
		t.Error("recently used process evicted")
	}
	if _, ok := tr.Lookup(2); ok {
		t.Error("least recently used process kept")
	}
	if tr.Evictions() == 0 {
		t.Error("evictions not counted")
	}
}

func TestTreeSeedsFromProc(t *testing.T) {
	tr := NewTree(TreeOptions{ProcFS: "/proc"})
	if err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	p, ok := tr.Lookup(uint32(os.Getpid()))
	if !ok || p.Exe != self || p.PPID != uint32(os.Getppid()) {
		t.Fatalf("self: %+v", p)
	}
	if a := tr.Ancestry(uint32(os.Getpid())); len(a) <= len(self) {
		t.Errorf("ancestry %q has no parents", a)
	}
}

func BenchmarkTreeEnrich(b *testing.B) {
	tr := NewTree(TreeOptions{})
	tr.Apply(execEv(1, 0, "/sbin/init"))
	for i := uint32(2); i < 1000; i++ {
		tr.Apply(execEv(i, i-1, fmt.Sprintf("/bin/p%d", i%10)))
	}
	ev := &Event{Kind: KindSyscall, HostPID: 500, HostPPID: 499}
	b.ReportAllocs()
	for b.Loop() {
		tr.Enrich(ev)
	}
}
