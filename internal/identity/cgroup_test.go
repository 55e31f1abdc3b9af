package identity

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContainerIDFromCgroupPath(t *testing.T) {
	id := "3f4e1c0b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"/docker/" + id, id, true},
		{"/k8s.io/" + id, id, true},
		{"/kubepods/burstable/pod1234/" + id, id, true},
		{"/system.slice/docker-" + id + ".scope", id, true},
		{"/kubepods.slice/kubepods-pod1.slice/cri-containerd-" + id + ".scope", id, true},
		{"/machine.slice/libpod-" + id + ".scope", id, true},
		{"/system.slice/crio-conmon-" + id + ".scope", "", false},
		{"/system.slice/ssh.service", "", false},
		{"/user.slice/user-0.slice/session-1.scope", "", false},
		{"/", "", false},
		{"/default/web", "", false},
		{"/docker/" + id[:63], "", false},
	} {
		got, ok := ContainerIDFromCgroupPath(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ContainerIDFromCgroupPath(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseProcCgroup(t *testing.T) {
	hybrid := "9:name=systemd:/t1/c1\n1:cpu:/t1/c1\n0::/t1/c1\n"
	if p, err := ParseProcCgroup([]byte(hybrid)); err != nil || p != "/t1/c1" {
		t.Errorf("hybrid: %q, %v", p, err)
	}
	if _, err := ParseProcCgroup([]byte("4:memory:/x\n")); err != ErrNoCgroupV2 {
		t.Errorf("v1 only: %v, want ErrNoCgroupV2", err)
	}
}

func TestDetectCgroupRoot(t *testing.T) {
	for _, tc := range []struct{ name, mountinfo, want string }{
		{"hybrid layout", `25 24 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw
26 25 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
35 25 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`, "/sys/fs/cgroup/unified"},
		{"pure v2", `30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
`, "/sys/fs/cgroup"},
		{"elsewhere, with a space", `30 24 0:26 / /host/cg\0402 rw - cgroup2 none rw
`, "/host/cg 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(f, []byte(tc.mountinfo), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, err := DetectCgroupRoot(f); err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHostReadsItsOwnProcess(t *testing.T) {
	h := &Host{}
	pid := uint32(os.Getpid())
	p, id, err := h.CgroupOfPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	back, err := h.CgroupPath(id)
	if err != nil || back != p {
		t.Errorf("CgroupPath(%d) = %q, %v; want %q", id, back, err, p)
	}
	c := &Container{ID: "self", PID: pid}
	if err := h.Fill(c); err != nil {
		t.Fatal(err)
	}
	if c.CgroupID != id || c.PidNS == 0 || c.MntNS == 0 || c.StartedAt.IsZero() {
		t.Errorf("Fill: %+v", c)
	}
}
