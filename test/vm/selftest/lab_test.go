//go:build vmguest

package selftest

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func TestLSMsIncludeBPFAndAppArmor(t *testing.T) {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		t.Fatal(err)
	}
	lsms := strings.Split(strings.TrimSpace(string(b)), ",")
	t.Logf("lsm=%s", b)
	for _, want := range []string{"bpf", "apparmor"} {
		if !slices.Contains(lsms, want) {
			t.Errorf("%s not in /sys/kernel/security/lsm: %s", want, b)
		}
	}
}

func TestMounts(t *testing.T) {
	if err := guest.CheckMounts(); err != nil {
		t.Fatal(err)
	}
}

func TestCommandAsTestUser(t *testing.T) {
	out, err := guest.AsTestUser(exec.Command("id", "-u")).CombinedOutput()
	if err != nil {
		t.Fatalf("id -u: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(guest.TestUID) {
		t.Errorf("id -u as the test user = %s, want %d", got, guest.TestUID)
	}
}

func TestCgroup(t *testing.T) {
	cg := guest.NewCgroup(t)
	t.Run("command starts inside", func(t *testing.T) {
		out, err := cg.Command("cat", "/proc/self/cgroup").CombinedOutput()
		if err != nil {
			t.Fatalf("cat: %v: %s", err, out)
		}
		if want := "0::" + strings.TrimPrefix(cg.Path, guest.CgroupRoot) + "\n"; string(out) != want {
			t.Errorf("/proc/self/cgroup = %q, want %q", out, want)
		}
	})
	t.Run("process moves in", func(t *testing.T) {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		if err := cg.AddProcess(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		pids, err := cg.Processes()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(pids, cmd.Process.Pid) {
			t.Errorf("cgroup has %v, want pid %d", pids, cmd.Process.Pid)
		}
	})
}

func TestProjectCommandsRun(t *testing.T) {
	for _, name := range []string{"bulwark", "bulwarkd"} {
		out, err := exec.Command(name, "--help").CombinedOutput()
		if err != nil {
			t.Errorf("%s --help: %v: %s", name, err, out)
		}
	}
}
