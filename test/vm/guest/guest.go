// Package guest helps tests that run inside the kernel lab's VM (see package vm).
// Guest tests live in files with the build tag vmguest, so that host builds never
// compile them, and their package's TestMain calls Main:
//
//	//go:build vmguest
//
//	func TestMain(m *testing.M) { guest.Main(m) }
package guest

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// Test user of the guest, for commands that must not run as root.
const (
	TestUID = lab.TestUID
	TestGID = lab.TestGID
)

// InLab tells whether this process runs in the kernel lab's guest.
func InLab() bool {
	_, err := os.Stat(lab.Marker)
	return err == nil
}

// Main runs the tests of m after checking that this is the lab's guest with its
// mounts in place. Elsewhere it runs nothing and exits with status 2: guest tests
// load enforcing BPF-LSM programs and AppArmor profiles, which belong in the VM.
func Main(m *testing.M) {
	if !InLab() {
		fmt.Fprintln(os.Stderr, "guest tests run only in the kernel lab's VM: make test-vm")
		os.Exit(2)
	}
	if err := CheckMounts(); err != nil {
		fmt.Fprintln(os.Stderr, "kernel lab:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// CheckMounts checks that the guest's file systems (proc, securityfs, bpffs,
// tracefs, cgroup v2 and the others of the lab) are mounted.
func CheckMounts() error {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("check mounts: %w", err)
	}
	defer f.Close()
	mounted := map[string]string{} // target → fs type
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 3 {
			mounted[fields[1]] = fields[2]
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("check mounts: %w", err)
	}
	var errs []error
	for _, m := range lab.Mounts {
		if got := mounted[m.Target]; got != m.FSType {
			errs = append(errs, fmt.Errorf("%s: want %s mounted, have %q", m.Target, m.FSType, got))
		}
	}
	return errors.Join(errs...)
}

// AsTestUser makes cmd run as the unprivileged test user and returns it.
func AsTestUser(cmd *exec.Cmd) *exec.Cmd {
	attr(cmd).Credential = &syscall.Credential{Uid: TestUID, Gid: TestGID}
	cmd.Env = append(cmd.Environ(), "HOME="+lab.TestHome, "USER="+lab.TestUser)
	return cmd
}

// attr returns cmd's SysProcAttr, created if nil.
func attr(cmd *exec.Cmd) *syscall.SysProcAttr {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	return cmd.SysProcAttr
}

// SharedTempDir returns a new temporary directory, as t.TempDir does, that the
// test user can enter and read too.
func SharedTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("shared temp dir: %v", err)
		}
	}
	return dir
}

// CopyFile copies the file src to dst with mode perm, failing t on error.
func CopyFile(t testing.TB, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}
