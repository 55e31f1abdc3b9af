package monitor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/engine"
)

// probeSource is the workload the kernel tests run: it performs one
// operation and exits.
const probeSource = `package main

import (
	"os"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case "open-write":
		f, err := os.OpenFile(os.Args[2], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			f.Close()
		}
	case "open":
		fd, err := syscall.Open(os.Args[2], syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == nil {
			syscall.Close(fd)
		}
	case "connect":
		port, _ := strconv.Atoi(os.Args[2])
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err == nil {
			syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
			syscall.Close(fd)
		}
	case "setuid":
		syscall.RawSyscall(syscall.SYS_SETUID, 0, 0, 0)
	case "loop-open":
		n, _ := strconv.Atoi(os.Args[3])
		for i := 0; i < n; i++ {
			fd, err := syscall.Open(os.Args[2], syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err == nil {
				syscall.Close(fd)
			}
		}
	}
}
`

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// buildProbe compiles the probe once into a world-readable temp dir.
func buildProbe(t testing.TB) string {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-monitor-probe-")
		if err != nil {
			probeErr = err
			return
		}
		os.Chmod(dir, 0o755)
		src := filepath.Join(dir, "main.go")
		if probeErr = os.WriteFile(src, []byte(probeSource), 0o644); probeErr != nil {
			return
		}
		probePath = filepath.Join(dir, "probe")
		cmd := exec.Command("go", "build", "-o", probePath, src)
		cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("build probe: %v: %s", err, out)
		}
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probePath
}

// captured is a copy of an event that outlives the handler call.
type captured struct {
	Kind     Kind
	Syscall  uint32
	HostPID  uint32
	CgroupID uint64
	Ret      int64
	Cap      int32
	Visible  bool
	Path     string
	Args     []string
	Ancestry string
	Process  Process
	Parent   Process
	Log      *feeder.Log
	Alert    *feeder.Alert
}

// collector keeps the events of processes running the probe.
type collector struct {
	probe string
	mu    sync.Mutex
	evs   []captured
	rules *engine.RuleSet
	cond  chan struct{}
}

func newCollector(probe string) *collector {
	return &collector{probe: probe, cond: make(chan struct{}, 1)}
}

func (c *collector) setRules(rs *engine.RuleSet) {
	c.mu.Lock()
	c.rules = rs
	c.mu.Unlock()
}

func (c *collector) handle(ev *Event) {
	if ev.Process.Exe != c.probe && !bytes.Equal(ev.Path, []byte(c.probe)) {
		return
	}
	cp := captured{
		Kind: ev.Kind, Syscall: ev.Syscall, HostPID: ev.HostPID, CgroupID: ev.CgroupID,
		Ret: ev.Ret, Cap: ev.Capability, Visible: ev.Visible(), Path: string(ev.Path),
		Ancestry: ev.Ancestry, Process: ev.Process, Parent: ev.Parent, Log: ToLog(ev),
	}
	if ev.Kind == KindExec {
		cp.Args = ev.ArgList()
	}
	c.mu.Lock()
	if c.rules != nil {
		cp.Alert, _ = Audit(c.rules, ev)
	}
	c.evs = append(c.evs, cp)
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
}

// waitFor waits until match returns true for some captured event.
func (c *collector) waitFor(t testing.TB, what string, match func(*captured) bool) captured {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for i := range c.evs {
			if match(&c.evs[i]) {
				e := c.evs[i]
				c.mu.Unlock()
				return e
			}
		}
		c.mu.Unlock()
		select {
		case <-c.cond:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// eventsOf returns the events of one host pid, after its exit event.
func (c *collector) eventsOf(t testing.TB, pid int) []captured {
	t.Helper()
	c.waitFor(t, fmt.Sprintf("exit of %d", pid), func(e *captured) bool {
		return e.Kind == KindExit && e.HostPID == uint32(pid)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []captured
	for _, e := range c.evs {
		if e.HostPID == uint32(pid) {
			out = append(out, e)
		}
	}
	return out
}

// startMonitor loads a monitor delivering probe events to a collector and
// runs it until the test ends.
func startMonitor(t testing.TB, opts Options) (*Monitor, *collector) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the monitor tests need root (run go test as root or with -exec sudo)")
	}
	c := newCollector(buildProbe(t))
	opts.Handler = c.handle
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m, c
}

// runProbe runs the probe and returns its pid.
func runProbe(t testing.TB, attr *syscall.SysProcAttr, dir string, args ...string) int {
	t.Helper()
	cmd := exec.Command(probePath, args...)
	cmd.SysProcAttr = attr
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatalf("probe %v: %v", args, err)
	}
	return cmd.Process.Pid
}

func findSyscall(evs []captured, nr uint32) *captured {
	for i := range evs {
		if evs[i].Kind == KindSyscall && evs[i].Syscall == nr {
			return &evs[i]
		}
	}
	return nil
}

// makeCgroup creates a child cgroup v2 and returns an open fd and its id.
func makeCgroup(t testing.TB) (int, uint64) {
	t.Helper()
	root := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		root = "/sys/fs/cgroup"
	}
	dir := filepath.Join(root, fmt.Sprintf("bulwark-monitor-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(fd)
		for range 50 {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("cgroup %s not removed", dir)
	})
	return fd, st.Ino
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// runCmd runs a command in its own session, so it has no controlling
// terminal even when the tests run from one.
func runCmd(dir, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd.Run()
}

func itoa(v uint64) string { return strconv.FormatInt(int64(int32(v)), 10) }
