package mountinfo

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const info = `25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - tmpfs tmpfs rw
26 25 0:24 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
garbage line
27 25 0:25 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu
28 30 0:26 / /mnt/with\040space\ rw - bpf bpf rw
`
	ms, err := Parse(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{"/sys/fs/cgroup", "tmpfs"}, {"/sys/fs/cgroup/unified", "cgroup2"},
		{"/sys/fs/cgroup/cpu", "cgroup"}, {`/mnt/with space\`, "bpf"},
	}
	if len(ms) != len(want) {
		t.Fatalf("mounts = %+v", ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("mount %d = %+v, want %+v", i, ms[i], want[i])
		}
	}
}

func TestReadSelf(t *testing.T) {
	ms, err := Read("/proc/self/mountinfo")
	if err != nil || len(ms) == 0 || !strings.HasPrefix(ms[0].Point, "/") {
		t.Fatalf("Read(/proc/self/mountinfo) = %v, %v", ms, err)
	}
}
