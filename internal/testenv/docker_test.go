package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/internal/mountinfo"
)

func TestDockerCleanupLeavesNothingBehind(t *testing.T) {
	var d *Docker
	var initPID uint32
	t.Run("a test that leaves a container running and dockerd stopped", func(t *testing.T) {
		d = StartDocker(t)
		d.LoadBusybox("busybox:cleanup")
		id := d.Run("left", "busybox:cleanup", DockerRunOptions{Labels: map[string]string{"app": "left"}})
		if initPID = d.Pid(id); initPID == 0 {
			t.Fatalf("container %s has no pid", id)
		}
		if len(processesMentioning(t, []string{d.Dir, d.Containerd.Dir})) < 3 {
			t.Fatal("dockerd, containerd and the shim are not found by their directories")
		}
		d.Stop() // live restore: the container keeps running
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(int(initPID)))); err != nil {
			t.Fatalf("container died with dockerd: %v", err)
		}
	})
	// The subtest's cleanups have run.
	dirs := []string{d.Dir, d.Containerd.Dir}
	if running(initPID) {
		t.Errorf("container init %d still runs", initPID)
	}
	for _, p := range processesMentioning(t, dirs) {
		t.Errorf("process left: %s", p)
	}
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		for _, dir := range dirs {
			if strings.HasPrefix(m.Point, dir+"/") || m.Point == dir {
				t.Errorf("mount left: %s", m.Point)
			}
		}
	}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s left (%v)", dir, err)
		}
	}
	cgroups, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", d.CgroupParent))
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", d.CgroupParent)); err == nil {
		cgroups = append(cgroups, filepath.Join("/sys/fs/cgroup", d.CgroupParent))
	}
	for _, c := range cgroups {
		t.Errorf("cgroup left: %s", c)
	}
}

// running reports whether pid is a live (not zombie) process.
func running(pid uint32) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(pid)), "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(stat[i:], []byte(") Z"))
}

// processesMentioning returns the command lines that name one of dirs
// (the daemons and shims started for them).
func processesMentioning(t *testing.T, dirs []string) []string {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // exited meanwhile
		}
		cmd := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		for _, dir := range dirs {
			if strings.Contains(cmd, dir) {
				found = append(found, filepath.Base(filepath.Dir(f))+": "+cmd)
				break
			}
		}
	}
	return found
}
