package monitor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Namespaces and cgroups of the synthetic node.
const (
	hostMnt, hostPidNS, hostCg = 1000, 2000, 10
	ctrMnt, ctrPidNS, ctrCg    = 1001, 2001, 11 // a container
	podMnt, podCg              = 1002, 12       // a container sharing the host's pid namespace
	userCg                     = 13             // a host user's session
)

// node builds synthetic fork and exec events; boot counts up so that
// every event has its own time.
type node struct {
	tr   *Tree
	boot uint64
}

// where a task is: mount and pid namespace, cgroup, pid there.
type where struct {
	mnt, pidns uint32
	cg         uint64
	nspid      uint32
}

func onHost(pid uint32) where { return where{hostMnt, hostPidNS, hostCg, pid} }

func (w where) ev(kind Kind, pid, ppid uint32) *Event {
	ev := &Event{Kind: kind, HostPID: pid, HostPPID: ppid, PID: w.nspid, MntNS: w.mnt, PidNS: w.pidns, CgroupID: w.cg}
	if w.mnt == hostMnt {
		ev.Flags = FlagHost
	}
	return ev
}

func (n *node) fork(pid, ppid uint32, w where) {
	n.boot += 1000
	ev := w.ev(KindFork, pid, ppid)
	ev.BootNS = n.boot
	n.tr.Apply(ev)
}

func (n *node) exec(pid, ppid uint32, w where, exe string, args ...string) *Event {
	n.boot += 1000
	ev := w.ev(KindExec, pid, ppid)
	ev.BootNS, ev.Path = n.boot, []byte(exe)
	ev.Argv = []byte(strings.Join(append([]string{exe}, args...), "\x00") + "\x00")
	n.tr.Apply(ev)
	n.tr.Enrich(ev)
	return ev
}

func (n *node) exit(pid uint32) { n.tr.Apply(&Event{Kind: KindExit, HostPID: pid}) }

func (n *node) session(t *testing.T, pid uint32) (id, entry string) {
	t.Helper()
	p, ok := n.tr.Lookup(pid)
	if !ok {
		t.Fatalf("pid %d not in the tree", pid)
	}
	return p.ExecID, p.ExecSession
}

// newNode is a host with init, containerd, a shim and a running
// container (init 300 with a worker 301), as runc starts one.
func newNode(t *testing.T) *node {
	n := &node{tr: NewTree(TreeOptions{})}
	n.exec(1, 0, onHost(1), "/sbin/init")
	n.fork(100, 1, onHost(100))
	n.exec(100, 1, onHost(100), "/usr/bin/containerd")
	n.fork(200, 1, onHost(200))
	n.exec(200, 1, onHost(200), "/usr/bin/containerd-shim-runc-v2")
	// runc create: runc, its init's stages, the container's pid 1.
	n.fork(210, 200, onHost(210))
	n.exec(210, 200, onHost(210), "/usr/sbin/runc", "create")
	n.fork(300, 210, where{ctrMnt, ctrPidNS, hostCg, 1})
	n.exit(210)
	n.exec(300, 200, where{ctrMnt, ctrPidNS, ctrCg, 1}, "/app/server")
	n.fork(301, 300, where{ctrMnt, ctrPidNS, ctrCg, 2})
	n.exec(301, 300, where{ctrMnt, ctrPidNS, ctrCg, 2}, "/bin/sh", "-c", "worker")
	for _, pid := range []uint32{300, 301} {
		if id, entry := n.session(t, pid); id != "" || entry != "" {
			t.Fatalf("container init tree: pid %d in session %q (%q)", pid, id, entry)
		}
	}
	return n
}

// runcExec enters the container as runc exec does: runc forks its init,
// whose last stage (a CLONE_PARENT child of runc) joins the namespaces
// and then the cgroup, and execs the command once runc has exited.
func (n *node) runcExec(root uint32, nspid uint32, cmd ...string) *Event {
	runc, stage1 := root-2, root-1
	n.fork(runc, 200, onHost(runc))
	n.exec(runc, 200, onHost(runc), "/usr/sbin/runc", "exec")
	n.fork(stage1, runc, onHost(stage1))
	n.exec(stage1, runc, onHost(stage1), "/usr/sbin/runc", "init")
	n.fork(root, runc, where{ctrMnt, ctrPidNS, hostCg, nspid})
	n.exit(stage1)
	n.exit(runc)
	return n.exec(root, 200, where{ctrMnt, ctrPidNS, ctrCg, nspid}, cmd[0], cmd[1:]...)
}

func TestExecSessionOfRuncExec(t *testing.T) {
	n := newNode(t)
	sh := n.runcExec(402, 7, "/bin/sh", "-c", "cat /etc/hostname | wc -c")
	id, entry := sh.Process.ExecID, sh.Process.ExecSession
	if !strings.HasPrefix(id, "402-") || entry != "/sbin/init > /usr/bin/containerd-shim-runc-v2 > /usr/sbin/runc" {
		t.Fatalf("exec'd shell: session %q entered by %q", id, entry)
	}
	if sh.Ancestry != "/bin/sh" {
		t.Errorf("ancestry %q: the container boundary is where it stops", sh.Ancestry)
	}
	in := where{ctrMnt, ctrPidNS, ctrCg, 8}
	n.fork(403, 402, in)
	cat := n.exec(403, 402, in, "/bin/cat", "/etc/hostname")
	in.nspid = 9
	n.fork(404, 402, in)
	wc := n.exec(404, 402, in, "/bin/wc", "-c")
	if cat.Process.ExecID != id || wc.Process.ExecID != id || cat.Process.ExecSession != entry {
		t.Errorf("children: cat %q, wc %q, want %q", cat.Process.ExecID, wc.Process.ExecID, id)
	}
	// Any later event of a descendant, and its log, carry the session.
	ev := &Event{Kind: KindSyscall, Syscall: sysOpenat, HostPID: 403, HostPPID: 402, Path: []byte("/etc/hostname")}
	n.tr.Enrich(ev)
	l := ToLog(ev)
	if l.ExecEvent.GetExecID() != id || l.EventData["ExecID"] != id || l.EventData["ExecSession"] != entry {
		t.Errorf("log: ExecEvent %v, EventData %v", l.ExecEvent, l.EventData)
	}

	// A second exec is another session; the init tree is still in none.
	sh2 := n.runcExec(502, 10, "/bin/sh")
	if id2 := sh2.Process.ExecID; id2 == "" || id2 == id {
		t.Errorf("second session %q, first %q", id2, id)
	}
	n.fork(305, 301, where{ctrMnt, ctrPidNS, ctrCg, 11})
	worker := n.exec(305, 301, where{ctrMnt, ctrPidNS, ctrCg, 11}, "/bin/cat", "/etc/hostname")
	if worker.Process.ExecID != "" {
		t.Errorf("init tree's process in session %q", worker.Process.ExecID)
	}
	if l := ToLog(worker); l.ExecEvent.GetExecID() != "" || l.EventData["ExecID"] != "" || l.EventData["ExecSession"] != "" {
		t.Errorf("init tree's log: ExecEvent %v, EventData %v", l.ExecEvent, l.EventData)
	}
}

func TestExecSessionPidReuse(t *testing.T) {
	n := newNode(t)
	sh := n.runcExec(402, 7, "/bin/sh")
	in := where{ctrMnt, ctrPidNS, ctrCg, 8}
	n.fork(403, 402, in)
	n.exec(403, 402, in, "/bin/sleep", "1")
	n.exit(403)
	n.exit(402)
	// 403 again, forked by the container's init: not the session's.
	n.fork(403, 301, in)
	if id, _ := n.session(t, 403); id != "" {
		t.Errorf("reused pid forked by the init tree: session %q", id)
	}
	// 403 again, its fork missed: the exited session process is not it.
	n.exit(403)
	if ev := n.exec(403, 301, in, "/bin/true"); ev.Process.ExecID != "" {
		t.Errorf("reused pid, fork unseen: session %q", ev.Process.ExecID)
	}
	// The root's pid reused by a new exec session: a new id.
	if again := n.runcExec(402, 12, "/bin/sh"); again.Process.ExecID == "" || again.Process.ExecID == sh.Process.ExecID {
		t.Errorf("reused root pid: session %q, old %q", again.Process.ExecID, sh.Process.ExecID)
	}
}

func TestExecSessionKeptAcrossReparentingAndUnshare(t *testing.T) {
	n := newNode(t)
	sh := n.runcExec(402, 7, "/bin/sh")
	id := sh.Process.ExecID
	// A daemon of the session, orphaned and reparented outside the
	// container (the shim is a subreaper), execs: still the session.
	in := where{ctrMnt, ctrPidNS, ctrCg, 8}
	n.fork(403, 402, in)
	n.exit(402)
	if ev := n.exec(403, 200, in, "/bin/daemon"); ev.Process.ExecID != id {
		t.Errorf("reparented daemon: session %q, want %q", ev.Process.ExecID, id)
	}
	// An init-tree orphan reparented to the shim does not start one.
	n.fork(310, 301, where{ctrMnt, ctrPidNS, ctrCg, 20})
	n.exit(301)
	if ev := n.exec(310, 200, where{ctrMnt, ctrPidNS, ctrCg, 20}, "/bin/daemon"); ev.Process.ExecID != "" {
		t.Errorf("reparented init-tree process: session %q", ev.Process.ExecID)
	}
	// unshare -m --fork inside the session: its own mount namespace, the
	// same session.
	n.fork(404, 403, where{5000, ctrPidNS, ctrCg, 9})
	if ev := n.exec(404, 403, where{5000, ctrPidNS, ctrCg, 9}, "/bin/sh"); ev.Process.ExecID != id {
		t.Errorf("unshare -m in the session: %q, want %q", ev.Process.ExecID, id)
	}
	// The same in the init tree: its first process is not a session.
	n.fork(320, 300, where{5001, ctrPidNS, ctrCg, 30})
	if ev := n.exec(320, 300, where{5001, ctrPidNS, ctrCg, 30}, "/bin/sh"); ev.Process.ExecID != "" {
		t.Errorf("unshare -m in the init tree: %q", ev.Process.ExecID)
	}
}

func TestExecSessionOfNsenter(t *testing.T) {
	n := newNode(t)
	user := where{hostMnt, hostPidNS, userCg, 0}
	n.fork(600, 1, user)
	bash := n.exec(600, 1, user, "/bin/bash")
	if bash.Process.ExecID != "" {
		t.Fatalf("host shell in session %q", bash.Process.ExecID)
	}
	n.fork(601, 600, user)
	n.exec(601, 600, user, "/usr/bin/nsenter", "-t", "300", "-a")
	// nsenter -a: setns (mount, pid...), then a fork into the pid
	// namespace; the cgroup stays the user's.
	joined := where{ctrMnt, ctrPidNS, userCg, 40}
	n.fork(602, 601, joined)
	sh := n.exec(602, 601, joined, "/bin/sh")
	if !strings.HasPrefix(sh.Process.ExecID, "602-") || !strings.HasSuffix(sh.Process.ExecSession, "/bin/bash > /usr/bin/nsenter") {
		t.Errorf("nsenter -a: session %q entered by %q", sh.Process.ExecID, sh.Process.ExecSession)
	}
	// nsenter -m: setns into the mount namespace only, then exec in place.
	n.fork(610, 600, user)
	n.exec(610, 600, user, "/usr/bin/nsenter", "-t", "300", "-m")
	ev := n.exec(610, 600, where{ctrMnt, hostPidNS, userCg, 610}, "/bin/sh")
	if !strings.HasPrefix(ev.Process.ExecID, "610-") || !strings.HasSuffix(ev.Process.ExecSession, "/bin/bash") {
		t.Errorf("nsenter -m: session %q entered by %q", ev.Process.ExecID, ev.Process.ExecSession)
	}
	// nsenter -n stays on the host (its mount namespace): no session.
	n.fork(620, 600, user)
	n.exec(620, 600, user, "/usr/bin/nsenter", "-t", "300", "-n")
	if ev := n.exec(620, 600, user, "/bin/sh"); ev.Process.ExecID != "" {
		t.Errorf("nsenter -n: session %q", ev.Process.ExecID)
	}
}

func TestExecSessionSharedPidNamespace(t *testing.T) {
	// A container in the host's (or its pod's) pid namespace: its init is
	// not pid 1 there, but the first process of its mount namespace.
	n := newNode(t)
	pod := where{podMnt, hostPidNS, podCg, 700}
	n.fork(700, 210, where{podMnt, hostPidNS, hostCg, 700})
	init := n.exec(700, 200, pod, "/app/agent")
	if init.Process.ExecID != "" {
		t.Fatalf("init of a container without its own pid namespace: session %q", init.Process.ExecID)
	}
	sh := n.runcExecInto(712, pod, "/bin/sh")
	if !strings.HasPrefix(sh.Process.ExecID, "712-") {
		t.Errorf("exec into it: session %q", sh.Process.ExecID)
	}
	// Once every process of the container is gone, the next entry is a
	// new container's init (a restart in the same namespace is not one,
	// but nothing is left to enter then).
	n.exit(712)
	n.exit(700)
	if ev := n.runcExecInto(722, pod, "/app/agent"); ev.Process.ExecID != "" {
		t.Errorf("first process after all exited: session %q", ev.Process.ExecID)
	}
}

// runcExecInto is runcExec into the container w (pid root is w's pid
// there too).
func (n *node) runcExecInto(root uint32, w where, cmd ...string) *Event {
	runc := root - 2
	n.fork(runc, 200, onHost(runc))
	n.exec(runc, 200, onHost(runc), "/usr/sbin/runc", "exec")
	w.nspid = root
	n.fork(root, runc, where{w.mnt, w.pidns, hostCg, root})
	return n.exec(root, runc, w, cmd[0], cmd[1:]...)
}

func TestExecSessionHostsNever(t *testing.T) {
	n := newNode(t)
	// A process of the host entered from "outside" (another cgroup) is
	// no session: only container entries count.
	n.fork(800, 200, where{hostMnt, hostPidNS, userCg, 800})
	if ev := n.exec(800, 200, where{hostMnt, hostPidNS, userCg, 800}, "/bin/sh"); ev.Process.ExecID != "" {
		t.Errorf("host process: session %q", ev.Process.ExecID)
	}
	// Unknown namespaces (no mount namespace reported): none.
	n.tr.Apply(&Event{Kind: KindExec, HostPID: 801, HostPPID: 200, PID: 3, CgroupID: ctrCg, Path: []byte("/bin/sh")})
	if id, _ := n.session(t, 801); id != "" {
		t.Errorf("unknown mount namespace: session %q", id)
	}
}

// TestExecSessionFromProc seeds the tree from a fake procfs whose ns/mnt
// files are hard links, so that processes share namespace inodes: the
// container's init and an exec session running when the monitor starts,
// listed so that the session's pid comes first.
func TestExecSessionFromProc(t *testing.T) {
	dir := t.TempDir()
	proc, cg := filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
	for _, d := range []string{"ns", cg, filepath.Join(cg, "ctr")} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"mnt-host", "mnt-ctr", "pid-host", "pid-ctr"} {
		if err := os.WriteFile(filepath.Join(dir, "ns", ns), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type fake struct {
		pid, ppid  int
		start      int
		exe, group string
		ctr        bool
		nspid      int
	}
	for _, p := range []fake{
		{1, 0, 1, "/sbin/init", "/", false, 1},
		{50, 1, 5, "/usr/bin/containerd-shim-runc-v2", "/", false, 50},
		{20, 50, 100, "/bin/sh", "/ctr", true, 9},    // exec session (pid wrapped)
		{21, 20, 101, "/bin/cat", "/ctr", true, 10},  // its child
		{60, 50, 10, "/app/server", "/ctr", true, 1}, // the container's init
		{61, 60, 11, "/bin/worker", "/ctr", true, 2},
	} {
		d := filepath.Join(proc, strconv.Itoa(p.pid))
		if err := os.MkdirAll(filepath.Join(d, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(p.pid) + " (x) S " + strconv.Itoa(p.ppid) + " 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 " + strconv.Itoa(p.start) + " 0\n"
		mnt, pidns := "mnt-host", "pid-host"
		if p.ctr {
			mnt, pidns = "mnt-ctr", "pid-ctr"
		}
		for name, data := range map[string]string{
			"stat": stat, "cgroup": "0::" + p.group + "\n", "cmdline": p.exe + "\x00",
			"status": "Uid:\t0\t0\t0\t0\nNSpid:\t" + strconv.Itoa(p.pid) + "\t" + strconv.Itoa(p.nspid) + "\n",
		} {
			if err := os.WriteFile(filepath.Join(d, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(p.exe, filepath.Join(d, "exe")); err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{"mnt": mnt, "pid": pidns} {
			if err := os.Link(filepath.Join(dir, "ns", target), filepath.Join(d, "ns", link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr := NewTree(TreeOptions{ProcFS: proc, CgroupFS: cg, Now: func() time.Time { return time.Unix(1, 0) }})
	if err := tr.Seed(); err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[uint32]bool{1: false, 50: false, 60: false, 61: false, 20: true, 21: true} {
		p, ok := tr.Lookup(pid)
		if !ok || (p.ExecID != "") != want {
			t.Errorf("pid %d (%s): session %q, want one: %v", pid, p.Exe, p.ExecID, want)
		}
	}
	root, _ := tr.Lookup(20)
	child, _ := tr.Lookup(21)
	if root.ExecID != "20-1000000000" || child.ExecID != root.ExecID || root.ExecSession != "/sbin/init > /usr/bin/containerd-shim-runc-v2" {
		t.Errorf("session from /proc: root %q (%q), child %q", root.ExecID, root.ExecSession, child.ExecID)
	}
}
