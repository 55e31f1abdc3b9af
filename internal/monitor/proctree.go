package monitor

import (
	"bytes"
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TreeOptions configure a process tree. The zero value is usable.
type TreeOptions struct {
	// MaxProcesses bounds the tree; beyond it the least recently used
	// process is evicted. Default 32768.
	MaxProcesses int
	// ExitGrace is how long an exited process stays in the tree so that
	// late events (and its children's ancestry) still resolve. Default 30s.
	ExitGrace time.Duration
	// ProcFS is where /proc is mounted, for Seed and for processes the tree
	// has not seen. Empty disables /proc look-ups.
	ProcFS string
	// CgroupFS is the cgroup v2 mount, to turn /proc/PID/cgroup into cgroup
	// ids. Default /sys/fs/cgroup/unified when it exists, else /sys/fs/cgroup.
	CgroupFS string
	// HostMountNS is the inode of the host's mount namespace, to tell host
	// processes read from /proc from containers' (live events carry the
	// kernel's FlagHost). Default: that of ProcFS's PID 1, when ProcFS is
	// set.
	HostMountNS uint64
	// Now returns the current time; default time.Now. For tests.
	Now func() time.Time
}

const (
	defaultMaxProcesses = 32768
	defaultExitGrace    = 30 * time.Second
	maxAncestry         = 32
	ancestrySep         = " > "
)

type procNode struct {
	Process
	ancestry string
	// host: the process was in the host's mount namespace at its last
	// fork or exec; mntNS its mount namespace then (0: unknown).
	host       bool
	mntNS      uint32
	exited     bool
	exitedAt   time.Time
	prev, next *procNode // LRU list, most recent first
}

// Tree is the process tree: host pid → Process, built from fork, exec and
// exit events, seeded from /proc, bounded by an LRU cap. It is safe for
// concurrent use.
type Tree struct {
	mu        sync.Mutex
	opts      TreeOptions
	nodes     map[uint32]*procNode
	head      procNode // sentinel of the LRU list
	exitQueue []exitEntry
	lastReap  time.Time
	evictions uint64
	// mntLive counts the live processes of each container mount
	// namespace: an entry into a namespace that has none is its
	// container's first process (its init), not an exec session.
	mntLive map[uint32]int
}

type exitEntry struct {
	pid uint32
	at  time.Time
}

// NewTree returns an empty tree.
func NewTree(opts TreeOptions) *Tree {
	if opts.MaxProcesses <= 0 {
		opts.MaxProcesses = defaultMaxProcesses
	}
	if opts.ExitGrace <= 0 {
		opts.ExitGrace = defaultExitGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CgroupFS == "" {
		opts.CgroupFS = "/sys/fs/cgroup"
		if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.procs"); err == nil {
			opts.CgroupFS = "/sys/fs/cgroup/unified"
		}
	}
	if opts.HostMountNS == 0 && opts.ProcFS != "" {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(opts.ProcFS, "1", "ns", "mnt"), &st) == nil {
			opts.HostMountNS = st.Ino
		}
	}
	t := &Tree{opts: opts, nodes: make(map[uint32]*procNode), mntLive: make(map[uint32]int)}
	t.head.next, t.head.prev = &t.head, &t.head
	return t
}

// Len returns the number of processes held, exited ones included.
func (t *Tree) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.nodes)
}

// Evictions returns how many live processes the LRU cap has evicted.
func (t *Tree) Evictions() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.evictions
}

func (t *Tree) unlink(n *procNode) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = nil, nil
}

func (t *Tree) touch(n *procNode) {
	if n.prev != nil {
		if t.head.next == n {
			return
		}
		t.unlink(n)
	}
	n.next, n.prev = t.head.next, &t.head
	t.head.next.prev = n
	t.head.next = n
}

func (t *Tree) insert(n *procNode) {
	if old, ok := t.nodes[n.PID]; ok && old != n {
		t.unlink(old)
		t.countLive(old, -1)
	}
	t.nodes[n.PID] = n
	t.countLive(n, 1)
	t.touch(n)
	for len(t.nodes) > t.opts.MaxProcesses {
		victim := t.head.prev
		if victim == &t.head {
			break
		}
		t.unlink(victim)
		delete(t.nodes, victim.PID)
		t.countLive(victim, -1)
		if !victim.exited {
			t.evictions++
		}
	}
}

func (t *Tree) get(pid uint32) *procNode {
	n := t.nodes[pid]
	if n != nil {
		t.touch(n)
	}
	return n
}

// ancestryOf computes n's chain from its parent's (cached) chain. The
// chain stops at PID 1, at a namespace's init (NsPID 1), and where the
// parent is in another cgroup and n is not on the host (a container's
// first process).
func (t *Tree) ancestryOf(n *procNode, host bool) string {
	p := t.nodes[n.PPID]
	if n.PID == 1 || n.NsPID == 1 || p == nil || p.PID == n.PID ||
		(!host && p.CgroupID != n.CgroupID) {
		return n.Exe
	}
	chain := p.ancestry
	if chain == "" {
		chain = p.Exe
	}
	if strings.Count(chain, ancestrySep) >= maxAncestry-1 {
		_, chain, _ = strings.Cut(chain, ancestrySep)
	}
	return chain + ancestrySep + n.Exe
}

// Apply updates the tree with a fork, exec or exit event. Other events
// only refresh the LRU position of their process.
func (t *Tree) Apply(ev *Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.applyLocked(ev)
}

// applyEnrich is Apply then Enrich, under one lock.
func (t *Tree) applyEnrich(ev *Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.applyLocked(ev)
	t.enrichLocked(ev)
}

func (t *Tree) applyLocked(ev *Event) {
	now := t.opts.Now()
	switch ev.Kind {
	case KindFork:
		n := &procNode{Process: Process{
			PID: ev.HostPID, PPID: ev.HostPPID, NsPID: ev.PID, UID: ev.UID,
			CgroupID: ev.CgroupID, PidNS: ev.PidNS, Start: ev.BootNS,
		}, host: ev.Host(), mntNS: ev.MntNS}
		p := t.get(ev.HostPPID)
		if p != nil {
			n.Exe, n.Args, n.Cwd, n.TTY = p.Exe, p.Args, p.Cwd, p.TTY
		} else if ev.HostPPID == 0 {
			n.Exe = string(ev.Comm)
		}
		t.execSession(n, nil, p, ev.BootNS)
		n.ancestry = t.ancestryOf(n, ev.Host())
		t.insert(n)
	case KindExec:
		n := &procNode{Process: Process{
			PID: ev.HostPID, PPID: ev.HostPPID, NsPID: ev.PID, UID: ev.UID,
			CgroupID: ev.CgroupID, PidNS: ev.PidNS, Start: ev.BootNS,
			Exe: string(ev.Path), Args: ev.ArgList(), Cwd: string(ev.Cwd), TTY: string(ev.TTY),
		}, host: ev.Host(), mntNS: ev.MntNS}
		t.execSession(n, t.nodes[ev.HostPID], t.get(ev.HostPPID), ev.BootNS)
		n.ancestry = t.ancestryOf(n, ev.Host())
		t.insert(n)
	case KindExit:
		if n := t.get(ev.HostPID); n != nil && !n.exited {
			t.countLive(n, -1)
			n.exited, n.exitedAt = true, now
			t.exitQueue = append(t.exitQueue, exitEntry{ev.HostPID, now})
		}
	default:
		t.get(ev.HostPID)
	}
	if now.Sub(t.lastReap) >= time.Second {
		t.reapLocked(now)
	}
}

// Reap removes processes that exited more than ExitGrace ago.
func (t *Tree) Reap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reapLocked(t.opts.Now())
}

func (t *Tree) reapLocked(now time.Time) {
	t.lastReap = now
	i := 0
	for ; i < len(t.exitQueue); i++ {
		e := t.exitQueue[i]
		if now.Sub(e.at) < t.opts.ExitGrace {
			break
		}
		if n := t.nodes[e.pid]; n != nil && n.exited && n.exitedAt.Equal(e.at) {
			t.unlink(n)
			delete(t.nodes, e.pid)
		}
	}
	t.exitQueue = append(t.exitQueue[:0], t.exitQueue[i:]...)
}

// Lookup returns what the tree knows about a host pid.
func (t *Tree) Lookup(pid uint32) (Process, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.get(pid)
	if n == nil {
		return Process{}, false
	}
	return n.Process, true
}

// Ancestry returns the chain of executables ending with pid's.
func (t *Tree) Ancestry(pid uint32) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.get(pid); n != nil {
		return n.ancestry
	}
	return ""
}

// Enrich fills ev.Process, ev.Parent and ev.Ancestry. A process the tree
// has not seen is read from /proc when ProcFS is set. It does not allocate
// for known processes.
func (t *Tree) Enrich(ev *Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.enrichLocked(ev)
}

func (t *Tree) enrichLocked(ev *Event) {
	n := t.get(ev.HostPID)
	if n == nil && t.opts.ProcFS != "" && ev.Kind != KindExit {
		n = t.readProcLocked(ev.HostPID)
	}
	if n != nil {
		ev.Process = n.Process
		ev.Ancestry = n.ancestry
	} else {
		ev.Process = Process{PID: ev.HostPID, PPID: ev.HostPPID, UID: ev.UID, Exe: string(ev.Comm)}
		ev.Ancestry = ev.Process.Exe
	}
	ppid := ev.HostPPID
	if ppid == 0 {
		ppid = ev.Process.PPID
	}
	if p := t.get(ppid); p != nil {
		ev.Parent = p.Process
	} else if p = t.readProcLocked(ppid); p != nil {
		ev.Parent = p.Process
	} else {
		ev.Parent = Process{PID: ppid}
	}
}

// Seed adds every process in ProcFS, parents before children so that
// ancestry chains are complete.
func (t *Tree) Seed() error {
	if t.opts.ProcFS == "" {
		return nil
	}
	ents, err := os.ReadDir(t.opts.ProcFS)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var pids []uint32
	for _, e := range ents {
		if p, err := strconv.ParseUint(e.Name(), 10, 32); err == nil {
			pids = append(pids, uint32(p))
		}
	}
	// Read each, then insert in parent-first order.
	read := make(map[uint32]*procNode, len(pids))
	for _, pid := range pids {
		if n := t.readProc(pid); n != nil {
			read[pid] = n
		}
	}
	// Oldest first (then parents first), so that a container's init is
	// placed before any exec session into it.
	slices.SortFunc(pids, func(a, b uint32) int {
		na, nb := read[a], read[b]
		if na == nil || nb == nil {
			return cmp.Compare(a, b)
		}
		return cmp.Or(cmp.Compare(na.Start, nb.Start), cmp.Compare(a, b))
	})
	var add func(n *procNode, depth int)
	add = func(n *procNode, depth int) {
		if _, done := t.nodes[n.PID]; done {
			return
		}
		if p, ok := read[n.PPID]; ok && depth < maxAncestry && p != n {
			add(p, depth+1)
		}
		t.execSession(n, nil, t.nodes[n.PPID], n.Start)
		n.ancestry = t.ancestryOf(n, n.host)
		t.insert(n)
	}
	for _, pid := range pids {
		if n := read[pid]; n != nil {
			add(n, 0)
		}
	}
	return nil
}

func (t *Tree) readProcLocked(pid uint32) *procNode {
	if t.opts.ProcFS == "" || pid == 0 {
		return nil
	}
	n := t.readProc(pid)
	if n == nil {
		return nil
	}
	t.execSession(n, nil, t.nodes[n.PPID], n.Start)
	n.ancestry = t.ancestryOf(n, n.host)
	t.insert(n)
	return n
}

// readProc reads one process from procfs; nil if it is gone.
func (t *Tree) readProc(pid uint32) *procNode {
	procfs, cgroupfs := t.opts.ProcFS, t.opts.CgroupFS
	dir := filepath.Join(procfs, strconv.FormatUint(uint64(pid), 10))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil
	}
	// pid (comm) state ppid pgrp session tty_nr ... starttime(22)
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return nil
	}
	ppid, _ := strconv.ParseUint(f[1], 10, 32)
	ttyNr, _ := strconv.ParseUint(f[4], 10, 32)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	n := &procNode{Process: Process{PID: pid, PPID: uint32(ppid), TTY: ttyName(ttyNr), Start: start * 1e7}}
	n.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	if n.Exe == "" {
		open := bytes.IndexByte(stat, '(')
		if open >= 0 {
			n.Exe = string(stat[open+1 : i])
		}
	}
	n.Exe = strings.TrimSuffix(n.Exe, " (deleted)")
	n.Cwd, _ = os.Readlink(filepath.Join(dir, "cwd"))
	if cmd, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		ev := Event{Argv: cmd}
		n.Args = ev.ArgList()
	}
	if st, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		for line := range strings.Lines(string(st)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			fs := strings.Fields(v)
			if len(fs) == 0 {
				continue
			}
			switch k {
			case "Uid":
				u, _ := strconv.ParseUint(fs[0], 10, 32)
				n.UID = uint32(u)
			case "NSpid":
				u, _ := strconv.ParseUint(fs[len(fs)-1], 10, 32)
				n.NsPID = uint32(u)
			}
		}
	}
	if cg, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		for line := range strings.Lines(string(cg)) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
				var st syscall.Stat_t
				if syscall.Stat(filepath.Join(cgroupfs, rest), &st) == nil {
					n.CgroupID = st.Ino
				}
			}
		}
	}
	var st syscall.Stat_t
	if syscall.Stat(filepath.Join(dir, "ns", "pid"), &st) == nil {
		n.PidNS = uint32(st.Ino)
	}
	if syscall.Stat(filepath.Join(dir, "ns", "mnt"), &st) == nil {
		n.mntNS = uint32(st.Ino)
		n.host = st.Ino == t.opts.HostMountNS
	}
	return n
}

// ttyName turns a tty_nr into KubeArmor's TTY name ("pts0", "tty1").
func ttyName(nr uint64) string {
	if nr == 0 {
		return ""
	}
	major := (nr >> 8) & 0xfff
	minor := (nr & 0xff) | ((nr >> 12) & 0xfff00)
	switch {
	case major >= 136 && major <= 143:
		return "pts" + strconv.FormatUint((major-136)*256+minor, 10)
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatUint(minor, 10)
	case major == 4:
		return "ttyS" + strconv.FormatUint(minor-64, 10)
	}
	return ""
}
