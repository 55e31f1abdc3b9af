package probe

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/internal/mountinfo"
)

// These tests assert facts of the machines Bulwark is developed and tested
// on (see docs: a 6.18 kernel that refuses BPF-LSM loads with EPERM, no
// AppArmor, hybrid cgroups with v2 at /sys/fs/cgroup/unified). Set
// BULWARK_PROBE_ANY_HOST=1 to only check consistency on another machine.
func hostFactsApply(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: the probe loads a BPF program")
	}
	return os.Getenv("BULWARK_PROBE_ANY_HOST") == ""
}

func TestHostReport(t *testing.T) {
	strict := hostFactsApply(t)
	r := Host()
	if r != Host() {
		t.Fatal("Host is not cached")
	}
	out, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("report:\n%s", out)

	if r.Kernel == "" || r.Kernel == "unknown" {
		t.Errorf("kernel release = %q", r.Kernel)
	}
	if !r.SecurityFS.MountedAtStart && !r.SecurityFS.MountedByProbe {
		t.Errorf("securityfs neither mounted nor mounted by the probe: %s", r.SecurityFS.Error)
	}
	if len(r.LSMs) == 0 {
		t.Errorf("no LSM list read")
	}
	if r.BPFLSM.Available && r.BPFLSM.Reason != "" || !r.BPFLSM.Available && r.BPFLSM.Reason == "" {
		t.Errorf("inconsistent BPF-LSM feature: %+v", r.BPFLSM)
	}
	if !strict {
		return
	}
	if !r.BTF.Present {
		t.Errorf("BTF not found at %s", r.BTF.Path)
	}
	if r.BPFLSM.Available {
		t.Errorf("BPF-LSM reported available; this host refuses lsm/ programs")
	}
	if r.BPFLSM.Errno != "EPERM" || !strings.Contains(r.BPFLSM.Reason, "operation not permitted") {
		t.Errorf("BPF-LSM refusal = %+v, want errno EPERM with the kernel's message", r.BPFLSM)
	}
	if !strings.Contains(strings.Join(r.LSMs, ","), "bpf") {
		t.Errorf("bpf missing from the LSM list %v (the host lists it although loads are refused)", r.LSMs)
	}
	if r.AppArmor.Available || r.AppArmor.Enabled || r.AppArmor.Reason == "" {
		t.Errorf("AppArmor = %+v, want unavailable with a reason", r.AppArmor)
	}
	if r.Cgroup.Layout != "hybrid" || r.Cgroup.V2Mount != "/sys/fs/cgroup/unified" {
		t.Errorf("cgroup = %+v, want hybrid with v2 at /sys/fs/cgroup/unified", r.Cgroup)
	}
	ch := Choose(r, ChooseOptions{})
	if ch.Enforcer != EnforcerNone || !strings.Contains(ch.Reason, "bpf: loading a minimal lsm/file_mprotect program failed") {
		t.Errorf("choice = %+v, want none with the BPF-LSM refusal as reason", ch)
	}
}

func TestChoose(t *testing.T) {
	r := &Report{
		BPFLSM:   Feature{Reason: "refused: EPERM", Errno: "EPERM"},
		AppArmor: AppArmor{Feature: Feature{Available: true}, Enabled: true, Parser: "/sbin/apparmor_parser"},
		SELinux:  Feature{Reason: "SELinux is not an active LSM"},
	}
	tests := []struct {
		name   string
		opts   ChooseOptions
		want   string
		reason string
	}{
		{"default order falls through to apparmor", ChooseOptions{}, "apparmor", "first available"},
		{"override none", ChooseOptions{Override: "none"}, "none", "enforcer: none"},
		{"override bpf alone", ChooseOptions{Override: "bpf"}, "none", "bpf: refused: EPERM"},
		{"empty preference", ChooseOptions{Preference: []string{}}, "none", "preference is empty"},
		{"selinux first", ChooseOptions{Preference: []string{"selinux", "apparmor"}}, "apparmor", "selinux,apparmor"},
		{"not implemented", ChooseOptions{Implemented: func(n string) bool { return n == "bpf" }}, "none",
			"apparmor: supported by the kernel but not implemented in this build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Choose(r, tt.opts)
			if ch.Enforcer != tt.want || !strings.Contains(ch.Reason, tt.reason) {
				t.Errorf("Choose = %+v, want %s with %q", ch, tt.want, tt.reason)
			}
		})
	}
}

func TestCgroupLayout(t *testing.T) {
	const info = `25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - tmpfs tmpfs rw
26 25 0:24 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
27 25 0:25 / /sys/fs/cgroup/cpu rw shared:11 - cgroup cgroup rw,cpu
28 30 0:26 / /mnt/with\040space rw - bpf bpf rw
`
	ms, err := mountinfo.Parse(strings.NewReader(info))
	if err != nil || len(ms) != 4 {
		t.Fatalf("mounts = %+v, %v", ms, err)
	}
	if c := cgroupLayout(ms); c.Layout != "hybrid" || c.V2Mount != "/sys/fs/cgroup/unified" || c.V1Mount != "/sys/fs/cgroup" {
		t.Errorf("layout = %+v", c)
	}
	if c := cgroupLayout(ms[1:2]); c.Layout != "v2" {
		t.Errorf("v2 only: %+v", c)
	}
}
