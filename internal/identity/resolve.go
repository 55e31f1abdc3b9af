package identity

import (
	"path"
)

// Status classifies a cgroup.
type Status uint8

// Statuses.
const (
	// StatusContainer: the cgroup is (in) a known running container.
	StatusContainer Status = iota + 1
	// StatusHost: the cgroup is not a container's.
	StatusHost
	// StatusUnknown: the cgroup looks like a container's that no runtime
	// has reported (yet).
	StatusUnknown
)

func (s Status) String() string {
	return map[Status]string{StatusContainer: "container", StatusHost: "host", StatusUnknown: "unknown"}[s]
}

// Resolution says whom a cgroup belongs to.
type Resolution struct {
	Status Status
	// Container is set with StatusContainer.
	Container *Container
	// ContainerID is the container's id, or for StatusUnknown the id
	// derived from the cgroup path (empty when it has none).
	ContainerID string
	// CgroupPath is the cgroup's path below the cgroup v2 root, when it
	// had to be looked up.
	CgroupPath string
	// Expired is set by Pending when it gave up waiting for the runtime.
	Expired bool
}

// maxHostCache bounds the cache of host cgroup verdicts.
const maxHostCache = 8192

// Resolve classifies cgroupID without waiting: a known container (or a
// cgroup nested in one), the host, or an unknown container. Unknown ids
// cost a lookup of the cgroup's path by file handle.
func (r *Registry) Resolve(cgroupID uint64) Resolution {
	r.mu.RLock()
	c, ok := r.byCgroup[cgroupID]
	hostPath, isHost := r.hostCache[cgroupID]
	r.mu.RUnlock()
	switch {
	case ok:
		return Resolution{Status: StatusContainer, Container: c, ContainerID: c.ID, CgroupPath: c.CgroupPath}
	case isHost:
		return Resolution{Status: StatusHost, CgroupPath: hostPath}
	}
	p, err := r.host.CgroupPath(cgroupID)
	if err != nil {
		// Gone already, or no way to tell: not the host's root, so treat
		// it as a container the runtime may still report.
		return Resolution{Status: StatusUnknown}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.underLocked(p); ok {
		return Resolution{Status: StatusContainer, Container: c, ContainerID: c.ID, CgroupPath: p}
	}
	if id, ok := ContainerIDFromCgroupPath(p); ok {
		return Resolution{Status: StatusUnknown, ContainerID: id, CgroupPath: p}
	}
	if _, ok := r.parents[path.Dir(p)]; ok && p != "/" {
		return Resolution{Status: StatusUnknown, ContainerID: path.Base(p), CgroupPath: p}
	}
	if len(r.hostCache) >= maxHostCache {
		clear(r.hostCache)
	}
	r.hostCache[cgroupID] = p
	return Resolution{Status: StatusHost, CgroupPath: p}
}
