//go:build vmguest

package lsmprobe

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// TestDeniesInScopeOnly loads the probe with a test cgroup in scope and files the
// test made as targets: exec and open of them fail with EPERM inside the cgroup,
// succeed outside it, and succeed inside it again once the probe is closed.
func TestDeniesInScopeOnly(t *testing.T) {
	dir := guest.SharedTempDir(t)
	exe := filepath.Join(dir, "true") // busybox runs the applet named by argv[0]
	secret := filepath.Join(dir, "secret")
	guest.CopyFile(t, "/bin/busybox", exe, 0o755)
	if err := os.WriteFile(secret, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cg := guest.NewCgroup(t)

	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			p.Close()
		}
	})
	for _, err := range []error{p.ScopeCgroup(cg.ID), p.DenyExec(exe), p.DenyOpen(secret)} {
		if err != nil {
			t.Fatal(err)
		}
	}

	t.Run("exec in scope fails with EPERM", func(t *testing.T) {
		err := cg.Command(exe).Run()
		if !errors.Is(err, syscall.EPERM) {
			t.Errorf("exec %s in the test cgroup: %v, want EPERM", exe, err)
		}
	})
	t.Run("open in scope fails with EPERM", func(t *testing.T) {
		out, err := cg.Command("/bin/cat", secret).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Operation not permitted") {
			t.Errorf("cat %s in the test cgroup: err=%v output=%q, want EPERM", secret, err, out)
		}
	})
	t.Run("open in scope as the test user fails with EPERM", func(t *testing.T) {
		out, err := guest.AsTestUser(cg.Command("/bin/cat", secret)).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Operation not permitted") {
			t.Errorf("cat %s in the test cgroup as the test user: err=%v output=%q, want EPERM", secret, err, out)
		}
	})
	t.Run("exec and open outside scope succeed", func(t *testing.T) {
		if err := exec.Command(exe).Run(); err != nil {
			t.Errorf("exec %s: %v", exe, err)
		}
		if out, err := exec.Command("/bin/cat", secret).CombinedOutput(); err != nil {
			t.Errorf("cat %s: %v: %s", secret, err, out)
		}
	})
	t.Run("other files in scope are untouched", func(t *testing.T) {
		if out, err := cg.Command("/bin/cat", "/etc/passwd").CombinedOutput(); err != nil {
			t.Errorf("cat /etc/passwd in the test cgroup: %v: %s", err, out)
		}
	})

	opens, execs, err := p.Denials()
	if err != nil {
		t.Fatal(err)
	}
	if opens != 2 || execs != 1 {
		t.Errorf("denials: opens=%d execs=%d, want 2 and 1 (each hook denied what it should)", opens, execs)
	}

	closed = true
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	t.Run("exec and open in scope succeed after detach", func(t *testing.T) {
		if err := cg.Command(exe).Run(); err != nil {
			t.Errorf("exec %s in the test cgroup: %v", exe, err)
		}
		if out, err := cg.Command("/bin/cat", secret).CombinedOutput(); err != nil {
			t.Errorf("cat %s in the test cgroup: %v: %s", secret, err, out)
		}
	})
}
