//go:build vmguest

package bpflsm

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func manyRules(n int, dir string) *policy.Policy {
	p := &policy.Policy{Kind: policy.KindPolicy, Name: "many", Namespace: "ns"}
	for i := range n {
		p.Rules = append(p.Rules, policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Action: policy.ActionBlock,
			Path: fmt.Sprintf("%s/f%d", dir, i), Section: "file.matchPaths", Index: i, Severity: 1})
	}
	return p
}

// TestCapacity: 10,000 rules in one workload, then 1,000 workloads.
func TestCapacity(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	start := time.Now()
	spec := l.apply(t, id, engine.Workload{}, manyRules(10000, dir))
	t.Logf("10,000 rules: %d entries applied in %v; usage %+v", len(spec.Entries), time.Since(start), l.e.Usage())
	for _, i := range []int{0, 4999, 9999} {
		f := mkfile(t, fmt.Sprintf("%s/f%d", dir, i), false)
		if got := l.helper(t, cg, false, "open "+f); got != eperm {
			t.Errorf("open %s: errno %d, want EPERM", f, got)
		}
	}
	free := mkfile(t, dir+"/free", false)
	if got := l.helper(t, cg, false, "open "+free); got != 0 {
		t.Errorf("open %s: errno %d", free, got)
	}

	// 1,000 workloads: 999 synthetic cgroup ids plus the test cgroup, 10
	// rules each.
	start = time.Now()
	s, err := CompileFor([]*policy.Policy{manyRules(10, dir+"/other")}, engine.Workload{Namespace: "ns"}, l.e.CompileOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 999 {
		wid := WorkloadID(1<<40 + i)
		if err := l.e.Apply(wid, s); err != nil {
			t.Fatalf("workload %d: %v (usage %+v)", i, err, l.e.Usage())
		}
		t.Cleanup(func() { l.e.Remove(wid) })
	}
	l.apply(t, id, engine.Workload{}, manyRules(10, dir))
	t.Logf("1,000 workloads applied in %v; usage %+v", time.Since(start), l.e.Usage())
	if got := l.helper(t, cg, false, "open "+dir+"/f0"); got != eperm {
		t.Errorf("open f0 with 1,000 workloads: errno %d", got)
	}
	if got := l.helper(t, cg, false, "open "+dir+"/f4999"); got != 0 {
		t.Errorf("open f4999 after the update: errno %d (old generation still enforced?)", got)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMeasure writes emulated (TCG) costs: kernel run time per file_open
// invocation by rule count (kernel.bpf_stats_enabled) and open+close and
// fork+exec CPU with the enforcer on vs off. Emulated: read the ratios.
func TestMeasure(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	target := mkfile(t, dir+"/a/b/c/target", false)
	exe := mkfile(t, dir+"/bin/true", true)
	if err := os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile("/proc/sys/kernel/bpf_stats_enabled", []byte("0"), 0)
	out := ""
	const opens = 2000
	prog := l.e.objs.BulwarkFileOpen
	measureOpens := func() time.Duration {
		c := cpuTime()
		for range opens {
			fd, err := syscall.Open(target, syscall.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			syscall.Close(fd)
		}
		return (cpuTime() - c) / opens
	}
	measureExecs := func(n int) time.Duration {
		c := cpuTime()
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
		for range n {
			pid, err := syscall.ForkExec(exe, []string{"true"}, &syscall.ProcAttr{})
			if err != nil {
				t.Fatal(err)
			}
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
		syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
		child := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		return (cpuTime() - c + child) / time.Duration(n)
	}
	baseOpen, baseExec := measureOpens(), measureExecs(100)
	for _, n := range []int{0, 10, 1000, 10000} {
		// The container compile of the rules, applied under the host key:
		// this test process is then the measured workload.
		cspec, err := CompileFor([]*policy.Policy{manyRules(n, dir+"/rules")}, engine.Workload{Namespace: "ns"}, l.e.CompileOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.e.Apply(HostWorkload, cspec); err != nil {
			t.Fatal(err)
		}
		st0, err := prog.Stats()
		if err != nil {
			t.Fatal(err)
		}
		rt0, rc0 := st0.Runtime, st0.RunCount
		on := measureOpens()
		st1, _ := prog.Stats()
		rt1, rc1 := st1.Runtime, st1.RunCount
		execOn := measureExecs(100)
		l.e.Remove(HostWorkload)
		perRun := time.Duration(0)
		if rc1 > rc0 {
			perRun = (rt1 - rt0) / time.Duration(rc1-rc0)
		}
		out += fmt.Sprintf("rules=%d file_open run time %v/invocation (%d runs); open+close CPU %v vs %v off (x%.2f); fork+exec+wait CPU %v vs %v off (x%.2f)\n",
			n, perRun, rc1-rc0, on, baseOpen, float64(on)/float64(baseOpen), execOn, baseExec, float64(execOn)/float64(baseExec))
	}
	t.Log("emulated (TCG) numbers, compare ratios only:\n" + out)
	os.WriteFile(filepath.Join(t.ArtifactDir(), "measure.txt"), []byte(out), 0o644)
}
