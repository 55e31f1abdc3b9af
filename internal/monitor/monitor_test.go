package monitor

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

func TestAttachPoints(t *testing.T) {
	m, _ := startMonitor(t, Options{})
	for _, p := range m.AttachPoints() {
		if p.Err != nil {
			if p.Name == "tp_btf/cap_capable" && errors.Is(p.Err, ErrNotSupported) {
				t.Logf("%s unavailable: %v", p.Name, p.Err)
				continue
			}
			t.Errorf("%s: %v", p.Name, p.Err)
		}
	}
	d, err := m.Drops()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drops: %+v", d)
}

func TestExecEventHasPathArgsCwdParentAndAncestry(t *testing.T) {
	_, c := startMonitor(t, Options{})
	dir := t.TempDir()
	token := "token-" + filepath.Base(dir)
	cmd := "sh -c 'sh -c \"exec " + probePath + " exec-arg " + token + "\" | cat'"
	runProbe(t, nil, dir) // warm-up: the probe itself in the tree
	sh := []string{"-c", cmd}
	if err := runCmd(dir, "/bin/sh", sh...); err != nil {
		t.Fatal(err)
	}
	ev := c.waitFor(t, "exec of the probe", func(e *captured) bool {
		return e.Kind == KindExec && len(e.Args) == 3 && e.Args[2] == token
	})
	if ev.Path != probePath {
		t.Errorf("path %q, want %q", ev.Path, probePath)
	}
	if ev.Process.Cwd != dir {
		t.Errorf("cwd %q, want %q", ev.Process.Cwd, dir)
	}
	if ev.Process.UID != 0 || ev.Log.UID != 0 {
		t.Errorf("uid %d", ev.Process.UID)
	}
	if ev.Process.TTY != "" || ev.Log.TTY != "" {
		t.Errorf("tty %q, want none: the probe runs in a session without a terminal", ev.Process.TTY)
	}
	if !hasPrefixAny(ev.Parent.Exe, "/usr/bin/dash", "/bin/dash", "/usr/bin/sh", "/bin/sh", "/usr/bin/bash") {
		t.Errorf("parent %q, want the shell", ev.Parent.Exe)
	}
	self, _ := os.Executable()
	wantTail := " > " + ev.Parent.Exe + " > " + probePath
	if !strings.HasSuffix(ev.Ancestry, wantTail) || !strings.Contains(ev.Ancestry, self+" > ") {
		t.Errorf("ancestry %q, want ... > %s%s", ev.Ancestry, self, wantTail)
	}
	t.Logf("ancestry: %s", ev.Ancestry)
	l := ev.Log
	if l.Operation != "Process" || l.Resource != probePath+" exec-arg "+token || l.Data != "syscall=SYS_EXECVE" ||
		l.Result != "Passed" || l.Source != ev.Parent.Exe || l.ProcessName != probePath ||
		l.ParentProcessName != ev.Parent.Exe || l.Type != TypeHostLog || l.Cwd != dir+"/" ||
		l.EventData["Ancestry"] != ev.Ancestry || l.HostPID == 0 || l.HostPPID == 0 {
		t.Errorf("log %+v", l)
	}
}

func TestOpenForWriteHasFlagsAndResult(t *testing.T) {
	_, c := startMonitor(t, Options{})
	dir := t.TempDir()
	target := filepath.Join(dir, "written")
	pid := runProbe(t, nil, dir, "open-write", target)
	evs := c.eventsOf(t, pid)
	var found *captured
	for i := range evs {
		if evs[i].Kind == KindSyscall && evs[i].Path == target {
			found = &evs[i]
		}
	}
	if found == nil {
		t.Fatalf("no open event for %s in %d events", target, len(evs))
	}
	l := found.Log
	if l.Operation != "File" || l.Resource != target || l.Result != "Passed" ||
		l.Data != "syscall=SYS_OPENAT fd=-100 flags=O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC" ||
		l.EventData["flags"] != "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC" || l.ProcessName != probePath {
		t.Errorf("log %+v", l)
	}
	if found.Ret < 0 {
		t.Errorf("ret %d", found.Ret)
	}
}

func TestRelativeOpenIsResolvedAgainstCwd(t *testing.T) {
	_, c := startMonitor(t, Options{})
	dir := t.TempDir()
	pid := runProbe(t, nil, dir, "open-write", "relative-file")
	ev := findPath(c.eventsOf(t, pid), "relative-file")
	if ev == nil {
		t.Fatal("no open event")
	}
	if ev.Log.Resource != filepath.Join(dir, "relative-file") {
		t.Errorf("resource %q", ev.Log.Resource)
	}
}

func findPath(evs []captured, p string) *captured {
	for i := range evs {
		if evs[i].Kind == KindSyscall && evs[i].Path == p {
			return &evs[i]
		}
	}
	return nil
}

func TestNotFoundIsDroppedUnlessConfigured(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		opts Options
		want bool
	}{
		{"dropped in the kernel by default", Options{}, false},
		{"reported with ReportNotFound", Options{ReportNotFound: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startMonitor(t, tc.opts)
			pid := runProbe(t, nil, dir, "open", missing)
			ev := findPath(c.eventsOf(t, pid), missing)
			if (ev != nil) != tc.want {
				t.Fatalf("event present %v, want %v", ev != nil, tc.want)
			}
			if ev != nil && ev.Log.Result != "No such file or directory" {
				t.Errorf("result %q", ev.Log.Result)
			}
		})
	}
}

func TestFailedOpensCarryErrorText(t *testing.T) {
	_, c := startMonitor(t, Options{})
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "subdir")
	os.Mkdir(sub, 0o755)
	t.Run("EACCES as a non-root user", func(t *testing.T) {
		attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		pid := runProbe(t, attr, "/", "open", secret)
		ev := findPath(c.eventsOf(t, pid), secret)
		if ev == nil {
			t.Fatal("no open event")
		}
		if ev.Log.Result != "Permission denied" || ev.Ret != -int64(syscall.EACCES) || ev.Log.UID != 65534 {
			t.Errorf("log %+v", ev.Log)
		}
	})
	t.Run("EISDIR opening a directory for writing", func(t *testing.T) {
		pid := runProbe(t, nil, dir, "open-write", sub)
		ev := findPath(c.eventsOf(t, pid), sub)
		if ev == nil {
			t.Fatal("no open event")
		}
		if ev.Log.Result != "Is a directory" {
			t.Errorf("result %q", ev.Log.Result)
		}
	})
}

func TestConnectToClosedPortIsRefused(t *testing.T) {
	_, c := startMonitor(t, Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pid := runProbe(t, nil, "/", "connect", itoa(uint64(port)))
	evs := c.eventsOf(t, pid)
	sock := findSyscall(evs, sysSocket)
	conn := findSyscall(evs, sysConnect)
	if sock == nil || conn == nil {
		t.Fatalf("socket %v connect %v", sock != nil, conn != nil)
	}
	if sock.Log.Operation != "Network" || sock.Log.Resource != "domain=AF_INET type=SOCK_STREAM protocol=TCP" || sock.Log.Result != "Passed" {
		t.Errorf("socket log %+v", sock.Log)
	}
	want := "sa_family=AF_INET sin_port=" + itoa(uint64(port)) + " sin_addr=127.0.0.1"
	if conn.Log.Resource != want || conn.Log.Result != "Connection refused" || !strings.HasPrefix(conn.Log.Data, "syscall=SYS_CONNECT fd=") ||
		conn.Log.EventData["sin_port"] != itoa(uint64(port)) {
		t.Errorf("connect log %+v", conn.Log)
	}
}

func TestSetuidAndCapabilityChecks(t *testing.T) {
	m, c := startMonitor(t, Options{})
	attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	pid := runProbe(t, attr, "/", "setuid")
	evs := c.eventsOf(t, pid)
	su := findSyscall(evs, sysSetuid)
	if su == nil {
		t.Fatal("no setuid event")
	}
	if su.Log.Operation != "Syscall" || su.Log.Data != "syscall=SYS_SETUID userid=0" || su.Log.Result != "Operation not permitted" {
		t.Errorf("setuid log %+v", su.Log)
	}
	for _, p := range m.AttachPoints() {
		if p.Name == "tp_btf/cap_capable" && p.Err != nil {
			t.Skipf("capability events unavailable: %v", p.Err)
		}
	}
	var capEv *captured
	for i := range evs {
		if evs[i].Kind == KindCapability && evs[i].Cap == 7 {
			capEv = &evs[i]
		}
	}
	if capEv == nil {
		t.Fatal("no CAP_SETUID check")
	}
	if capEv.Log.Operation != "Capabilities" || capEv.Log.Resource != "CAP_SETUID" || capEv.Log.Result != "Operation not permitted" {
		t.Errorf("capability log %+v", capEv.Log)
	}
}

func TestVisibilityFileOffForOneCgroup(t *testing.T) {
	m, c := startMonitor(t, Options{})
	fd, id := makeCgroup(t)
	if err := m.SetVisibility(id, VisibilityProcess); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "invisible")
	attr := &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	pid := runProbe(t, attr, dir, "open-write", target)
	evs := c.eventsOf(t, pid)
	var execSeen bool
	for _, e := range evs {
		if e.CgroupID != id {
			t.Errorf("%v event in cgroup %d, want %d", e.Kind, e.CgroupID, id)
		}
		if e.Kind == KindExec && e.Visible {
			execSeen = true
		}
		if e.Kind == KindSyscall && e.Log.Operation == "File" {
			t.Errorf("file event with file visibility off: %+v", e.Log)
		}
	}
	if !execSeen {
		t.Error("no exec event although process visibility is on")
	}
	// The same workload outside the cgroup is visible.
	pid = runProbe(t, nil, dir, "open-write", target)
	if findPath(c.eventsOf(t, pid), target) == nil {
		t.Error("no file event outside the cgroup")
	}
	if err := m.ClearVisibility(id); err != nil {
		t.Fatal(err)
	}
}

func TestMonitorOffStopsEvents(t *testing.T) {
	m, c := startMonitor(t, Options{})
	dir := t.TempDir()
	if err := m.SetEnabled(false); err != nil {
		t.Fatal(err)
	}
	off := runProbe(t, nil, dir, "open-write", filepath.Join(dir, "x"))
	if err := m.SetEnabled(true); err != nil {
		t.Fatal(err)
	}
	on := runProbe(t, nil, dir, "open-write", filepath.Join(dir, "y"))
	c.eventsOf(t, on)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.evs {
		if e.HostPID == uint32(off) {
			t.Errorf("event from pid %d while off: %v", off, e.Kind)
		}
	}
}

func TestAuditRuleAlertsFromExec(t *testing.T) {
	_, c := startMonitor(t, Options{})
	r := policy.Rule{
		Class: policy.ClassProcess, Matcher: policy.MatchPath, Section: "process.matchPaths",
		Path: buildProbe(t), Action: policy.ActionAudit, Severity: 7,
		Tags: []string{"MITRE", "T1059"}, Message: "probe executed",
	}
	p := &policy.Policy{Kind: policy.KindHostPolicy, Name: "audit-probe", Rules: []policy.Rule{r}}
	c.setRules(engine.Compile([]*policy.Policy{p}, engine.Workload{Host: true, Hostname: "node"}))
	pid := runProbe(t, nil, "/", "audit-me")
	var alerted *captured
	for _, e := range c.eventsOf(t, pid) {
		if e.Kind == KindExec && e.Alert != nil {
			alerted = &e
		}
	}
	if alerted == nil {
		t.Fatal("no alert")
	}
	a := alerted.Alert
	if a.PolicyName != "audit-probe" || a.Severity != "7" || a.Action != "Audit" || a.Enforcer != "eBPF Monitor" ||
		a.Tags != "MITRE,T1059" || len(a.ATags) != 2 || a.Message != "probe executed" || a.Type != TypeMatchedHostPolicy ||
		a.Operation != "Process" || a.ProcessName != probePath || a.Resource != probePath+" audit-me" {
		t.Errorf("alert %+v", a)
	}
}
