package monitor

import "strconv"

// Exec sessions: processes that entered a container from outside it
// (kubectl/docker/crictl/ctr exec, nsenter) rather than descending from
// the container's own init. See the package documentation.

// countLive adds delta to the live count of n's container mount
// namespace, when n is a live container process.
func (t *Tree) countLive(n *procNode, delta int) {
	if n.host || n.mntNS == 0 || n.exited {
		return
	}
	c := t.mntLive[n.mntNS] + delta
	if c <= 0 {
		delete(t.mntLive, n.mntNS)
	} else {
		t.mntLive[n.mntNS] = c
	}
}

// outside reports whether parent p is outside the container child n is
// in: p is on the host, or in another mount namespace and another cgroup
// (a runtime in a container of its own, such as a kind node). A mount
// namespace or a cgroup of its own alone does not make a container: a
// sandboxed process (unshare -m) and a service of a systemd in a container
// stay in their container.
func outside(p, n *procNode) bool {
	return p.host || (p.mntNS != n.mntNS && p.CgroupID != n.CgroupID)
}

// execSession sets n's exec session (Process.ExecID and ExecSession) from
// prev, what the tree held for the same pid before this exec (nil for a
// fork or a process read from /proc), and p, its parent's node (nil when
// unknown). at is the boot time of the fork or exec that placed n, which
// names a session n starts. It must be called before n is inserted.
//
//   - A host process is in no session.
//   - A process that stays in the mount namespace it was in keeps its
//     session (fork inheritance, exec, and reparenting do not change it).
//   - A process whose parent is in the same container inherits the
//     parent's session.
//   - A process whose parent is outside its container starts a session,
//     unless it is the container's init: pid 1 of its pid namespace, or
//     the first live process of its mount namespace (a container sharing
//     its pod's pid namespace).
//   - Without a parent the tree knows of, nothing can be told: none.
func (t *Tree) execSession(n, prev, p *procNode, at uint64) {
	n.ExecID, n.ExecSession = "", ""
	switch {
	case n.host || n.mntNS == 0:
	case prev != nil && !prev.exited && prev.mntNS == n.mntNS:
		n.ExecID, n.ExecSession = prev.ExecID, prev.ExecSession
	case p == nil:
	case !outside(p, n):
		n.ExecID, n.ExecSession = p.ExecID, p.ExecSession
	case n.NsPID == 1 || t.mntLive[n.mntNS] == 0:
		// the container's init
	default:
		n.ExecID = strconv.FormatUint(uint64(n.PID), 10) + "-" + strconv.FormatUint(at, 10)
		n.ExecSession = p.ancestry
		if n.ExecSession == "" {
			n.ExecSession = p.Exe
		}
	}
}
