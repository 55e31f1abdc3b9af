package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/identity"
)

// WaitTimeout bounds how long a test waits for a runtime's change to reach
// an identity registry.
const WaitTimeout = 20 * time.Second

// RunRegistry starts reg's sources until the test ends, and fails the test
// if Start returns an error.
func RunRegistry(t testing.TB, reg *identity.Registry) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
}

// HasID matches the container with the given id.
func HasID(id string) func(*identity.Container) bool {
	return func(c *identity.Container) bool { return c.ID == id }
}

// WaitContainer waits until reg holds a container match accepts and
// returns it; it fails the test after WaitTimeout.
func WaitContainer(t testing.TB, reg *identity.Registry, what string, match func(*identity.Container) bool) *identity.Container {
	t.Helper()
	var found *identity.Container
	waitRegistry(t, reg, what, func(cs []*identity.Container) bool {
		for _, c := range cs {
			if match(c) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

// WaitNoContainer waits until reg holds no container match accepts; it
// fails the test after WaitTimeout.
func WaitNoContainer(t testing.TB, reg *identity.Registry, what string, match func(*identity.Container) bool) {
	t.Helper()
	waitRegistry(t, reg, "no "+what, func(cs []*identity.Container) bool {
		for _, c := range cs {
			if match(c) {
				return false
			}
		}
		return true
	})
}

func waitRegistry(t testing.TB, reg *identity.Registry, what string, done func([]*identity.Container) bool) {
	t.Helper()
	deadline := time.After(WaitTimeout)
	for {
		// Taken before reading, so a change in between is not missed.
		changed := reg.Changed()
		if done(reg.Containers()) {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; registry holds %v", what, reg.Containers())
		}
	}
}

// NextEvent returns the next registry event, skipping Updated ones; it
// fails the test after WaitTimeout.
func NextEvent(t testing.TB, events <-chan identity.Event) identity.Event {
	t.Helper()
	for {
		select {
		case ev := <-events:
			if ev.Type != identity.Updated {
				return ev
			}
		case <-time.After(WaitTimeout):
			t.Fatal("no registry event")
		}
	}
}

// NSInode is the inode of /proc/pid/ns/ns, read here rather than through
// identity.Host so the registry is checked against the kernel.
func NSInode(t testing.TB, pid uint32, ns string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// CheckRun checks the run a registry reports for c against the kernel: its
// cgroup is cgroupPath, whose directory below the cgroup root gives its id;
// its pid and mount namespaces are those of its pid, and its pid namespace
// is not the test's; it started after startedAfter and has not stopped.
func CheckRun(t testing.TB, c *identity.Container, root, cgroupPath string, startedAfter time.Time) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, cgroupPath), &st); err != nil {
		t.Fatal(err)
	}
	if c.CgroupPath != cgroupPath || c.CgroupID != st.Ino {
		t.Errorf("cgroup %s (%d), want %s (%d)", c.CgroupPath, c.CgroupID, cgroupPath, st.Ino)
	}
	if c.PidNS != NSInode(t, c.PID, "pid") || c.MntNS != NSInode(t, c.PID, "mnt") || c.PidNS == NSInode(t, uint32(os.Getpid()), "pid") {
		t.Errorf("pid ns %d mnt ns %d, want those of /proc/%d", c.PidNS, c.MntNS, c.PID)
	}
	if c.StartedAt.Before(startedAfter) || c.StartedAt.After(time.Now()) || !c.StoppedAt.IsZero() {
		t.Errorf("started %v stopped %v", c.StartedAt, c.StoppedAt)
	}
}
