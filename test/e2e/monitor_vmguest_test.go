//go:build vmguest

package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/monitor"
)

// TestMonitorOnDistroKernel loads the telemetry programs on the guest's
// Debian kernel (tracepoint signatures differ between kernel versions) and
// sees an exec and an open of the test's own helper.
func TestMonitorOnDistroKernel(t *testing.T) {
	var mu sync.Mutex
	seen := map[uint32][]monitor.Kind{}
	m, err := monitor.New(monitor.Options{Handler: func(ev *monitor.Event) {
		mu.Lock()
		seen[ev.HostPID] = append(seen[ev.HostPID], ev.Kind)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("monitor does not load on %s: %v", kernelRelease(t), err)
	}
	for _, p := range m.AttachPoints() {
		switch {
		case p.Err == nil:
		case errors.Is(p.Err, monitor.ErrNotSupported):
			t.Logf("%s: %v", p.Name, p.Err) // e.g. cap_capable, a 6.x tracepoint
		default:
			t.Errorf("%s not attached: %v", p.Name, p.Err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	}()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"=open "+self)
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	pid := uint32(cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		kinds := seen[pid]
		mu.Unlock()
		if hasKinds(kinds, monitor.KindExec, monitor.KindSyscall) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exec and open events from the helper (pid %d) within 10s; got %v", pid, kinds)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasKinds(got []monitor.Kind, want ...monitor.Kind) bool {
	for _, w := range want {
		found := false
		for _, k := range got {
			found = found || k == w
		}
		if !found {
			return false
		}
	}
	return true
}

func kernelRelease(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
