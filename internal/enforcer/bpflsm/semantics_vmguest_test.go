//go:build vmguest

package bpflsm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func isEPERM(err error) bool { return errors.Is(err, syscall.EPERM) }

func TestProcessPath(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	exe := mkfile(t, dir+"/bin/true", true)
	cg := guest.NewCgroup(t)
	spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{}, pol("block-true",
		policy.Rule{Class: policy.ClassProcess, Matcher: policy.MatchPath, Path: exe, Action: policy.ActionBlock}))
	if err := cg.Command(exe).Run(); !isEPERM(err) {
		t.Fatalf("exec %s in scope: %v, want EPERM", exe, err)
	}
	r := l.expect(t, WorkloadID(cg.ID), "exec block", func(r *rec) bool { return r.Hook == HookBprmCheck && r.path == exe })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "block-true", Operation: "Process", Resource: exe,
		Data: "lsm=SECURITY_BPRM_CHECK", Result: denied, Source: l.self})
	if err := exec.Command(exe).Run(); err != nil {
		t.Errorf("exec %s out of scope: %v", exe, err)
	}
}

func TestDirectories(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	flat := dir + "/flat/"
	direct := mkfile(t, flat+"f", false)
	below := mkfile(t, flat+"sub/f", false)
	deepDir := dir + "/deep/"
	deep := deepDir
	for i := range 24 {
		deep += "level-" + strings.Repeat("x", i%7) + "/"
	}
	deep = mkfile(t, deep+"file", false)
	if len(deep) <= 200 || strings.Count(deep, "/") <= 20 {
		t.Fatalf("deep path too short: %d bytes", len(deep))
	}
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{}, pol("dirs",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchDirectory, Dir: flat, Action: policy.ActionBlock},
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchDirectory, Dir: deepDir, Recursive: true, Action: policy.ActionBlock}))
	for _, c := range []struct {
		path string
		want int
	}{{direct, eperm}, {below, 0}, {deep, eperm}} {
		if got := l.helper(t, cg, false, "open "+c.path); got != c.want {
			t.Errorf("open %s in scope: errno %d, want %d", c.path, got, c.want)
		}
		if got := l.helper(t, nil, false, "open "+c.path); got != 0 {
			t.Errorf("open %s out of scope: errno %d", c.path, got)
		}
	}
	r := l.expect(t, id, "deep open", func(r *rec) bool { return r.path == deep })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "dirs", Operation: "File", Resource: deep, Data: dataOpn, Result: denied, Source: l.self})
	if a := Alert(&r.Event, spec, AlertOptions{}); spec.Rules[r.Rule-1].Section != "file.matchDirectories" || spec.Rules[r.Rule-1].Index != 1 {
		t.Errorf("deep open decided by rule %d %+v (%v)", r.Rule, spec.Rules[r.Rule-1], a)
	}
}

func TestExecName(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	exe := mkfile(t, dir+"/a/b/true", true)
	other := mkfile(t, dir+"/a/b/false", true)
	cg := guest.NewCgroup(t)
	spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{}, pol("execname",
		policy.Rule{Class: policy.ClassProcess, Matcher: policy.MatchExecName, ExecName: "true", Action: policy.ActionBlock}))
	if err := cg.Command(exe).Run(); !isEPERM(err) {
		t.Fatalf("exec %s: %v, want EPERM", exe, err)
	}
	var ee *exec.ExitError
	if err := cg.Command(other).Run(); err != nil && !errors.As(err, &ee) {
		t.Errorf("exec %s: %v", other, err)
	}
	r := l.expect(t, WorkloadID(cg.ID), "execname", func(r *rec) bool { return r.path == exe })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "execname", Operation: "Process", Result: denied})
}

func TestPattern(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	key := mkfile(t, dir+"/certs/a/b/server.pem", false)
	txt := mkfile(t, dir+"/certs/a/b/server.txt", false)
	cg := guest.NewCgroup(t)
	spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{}, pol("pem",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPattern, Pattern: dir + "/certs/**/*.pem", Action: policy.ActionBlock}))
	if got := l.helper(t, cg, false, "open "+key); got != eperm {
		t.Errorf("open %s: errno %d, want EPERM", key, got)
	}
	if got := l.helper(t, cg, false, "open "+txt); got != 0 {
		t.Errorf("open %s: errno %d", txt, got)
	}
	if got := l.helper(t, nil, false, "open "+key); got != 0 {
		t.Errorf("open %s out of scope: errno %d", key, got)
	}
	r := l.expect(t, WorkloadID(cg.ID), "pattern", func(r *rec) bool { return r.path == key })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "pem", Operation: "File", Data: dataOpn, Result: denied})
}

func TestFromSource(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	srcA := mkfile(t, dir+"/bin/srcA", true)
	srcB := mkfile(t, dir+"/bin/srcB", true)
	target := mkfile(t, dir+"/target/true", true)
	secret := mkfile(t, dir+"/secret", false)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{}, pol("from",
		policy.Rule{Class: policy.ClassProcess, Matcher: policy.MatchPath, Path: target, Action: policy.ActionBlock,
			FromSource: []policy.Source{{Path: srcA}}},
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: secret, Action: policy.ActionBlock,
			FromSource: []policy.Source{{Path: srcA}}}))
	// busybox runs the applet named by argv[0]; the executable path is the source.
	run := func(src, applet string, args ...string) (string, error) {
		cmd := cg.Command(src, args...)
		cmd.Args[0] = applet
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// "; exit" keeps sh from exec'ing the target in place: the target's parent is then sh (the source).
	if out, err := run(srcA, "sh", "-c", target+"; exit $?"); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("exec from srcA: %v %q, want EPERM", err, out)
	}
	if out, err := run(srcB, "sh", "-c", target+"; exit $?"); err != nil {
		t.Errorf("exec from srcB: %v %q", err, out)
	}
	r := l.expect(t, id, "exec from srcA", func(r *rec) bool { return r.path == target })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "from", Operation: "Process", Source: srcA, Result: denied})
	if out, err := run(srcA, "cat", secret); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("cat by srcA: %v %q, want EPERM", err, out)
	}
	if out, err := run(srcB, "cat", secret); err != nil {
		t.Errorf("cat by srcB: %v %q", err, out)
	}
	r = l.expect(t, id, "open by srcA", func(r *rec) bool { return r.path == secret })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "from", Operation: "File", Source: srcA, Result: denied})
}

func TestOwnerOnlyAndReadOnly(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	owned := mkfile(t, dir+"/owned", false)
	ro := mkfile(t, dir+"/ro", false)
	for _, f := range []string{owned, ro} {
		if err := os.Chmod(f, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{}, pol("conds",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: owned, OwnerOnly: true, Action: policy.ActionBlock},
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: ro, ReadOnly: true, Action: policy.ActionBlock}))
	for _, c := range []struct {
		op   string
		user bool
		want int
	}{
		{"open " + owned, false, 0},    // root owns it
		{"open " + owned, true, eperm}, // the test user does not
		{"open " + ro, false, 0},       // reads pass
		{"write " + ro, false, eperm},  // writes are denied
		{"write " + ro, true, eperm},
	} {
		if got := l.helper(t, cg, c.user, c.op); got != c.want {
			t.Errorf("%s (test user %v): errno %d, want %d", c.op, c.user, got, c.want)
		}
	}
	if got := l.helper(t, nil, true, "open "+owned); got != 0 {
		t.Errorf("open %s out of scope: errno %d", owned, got)
	}
	r := l.expect(t, id, "owner", func(r *rec) bool { return r.path == owned })
	if r.UID != guest.TestUID {
		t.Errorf("event uid %d, want %d", r.UID, guest.TestUID)
	}
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "conds", Result: denied})
	r = l.expect(t, id, "readOnly write", func(r *rec) bool { return r.path == ro })
	if r.Arg0&2 == 0 {
		t.Errorf("readOnly event f_mode %#x lacks FMODE_WRITE", r.Arg0)
	}
}

func TestBlockOverAllow(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	f := mkfile(t, dir+"/etc/conf", false)
	cg := guest.NewCgroup(t)
	// The Allow rule comes first in precedence order ("a-allow" < "b-block"):
	// Block still wins, unlike upstream BPF-LSM's last-write-wins map.
	spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{},
		pol("a-allow", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: f, Action: policy.ActionAllow}),
		pol("b-block", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchDirectory, Dir: dir + "/etc/", Action: policy.ActionBlock}))
	if got := l.helper(t, cg, false, "open "+f); got != eperm {
		t.Errorf("open %s: errno %d, want EPERM", f, got)
	}
	r := l.expect(t, WorkloadID(cg.ID), "block over allow", func(r *rec) bool { return r.path == f })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "b-block", Result: denied})
}

func TestAllowListPostures(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	allowed := mkfile(t, dir+"/allowed", false)
	other := mkfile(t, dir+"/other", false)
	for _, c := range []struct {
		posture engine.Posture
		errno   int
		action  string
		result  string
	}{
		{engine.PostureAudit, 0, "Audit", passed},
		{engine.PostureBlock, eperm, "Block", denied},
	} {
		t.Run(string(c.posture), func(t *testing.T) {
			cg := guest.NewCgroup(t)
			id := WorkloadID(cg.ID)
			spec := l.apply(t, id, engine.Workload{Postures: engine.Postures{File: c.posture}}, pol("allow-list",
				policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: allowed, Action: policy.ActionAllow},
				policy.Rule{Class: policy.ClassProcess, Matcher: policy.MatchDirectory, Dir: "/", Recursive: true, Action: policy.ActionAllow}))
			if got := l.helper(t, cg, false, "open "+allowed); got != 0 {
				t.Errorf("open %s: errno %d", allowed, got)
			}
			if got := l.helper(t, cg, false, "open "+other); got != c.errno {
				t.Errorf("open %s: errno %d, want %d", other, got, c.errno)
			}
			r := l.expect(t, id, "posture", func(r *rec) bool { return r.path == other })
			checkAlert(t, r, spec, wantAlert{Action: c.action, PolicyName: "DefaultPosture", Operation: "File", Result: c.result})
			if got := l.helper(t, nil, false, "open "+other); got != 0 {
				t.Errorf("open %s out of scope: errno %d", other, got)
			}
		})
	}
}

func TestAuditedWorkload(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	f := mkfile(t, dir+"/f", false)
	cg := guest.NewCgroup(t)
	spec := l.apply(t, WorkloadID(cg.ID), engine.Workload{PolicyMode: engine.PolicyAudited}, pol("audited",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: f, Action: policy.ActionBlock}))
	if got := l.helper(t, cg, false, "open "+f); got != 0 {
		t.Errorf("open %s in an audited workload: errno %d", f, got)
	}
	r := l.expect(t, WorkloadID(cg.ID), "audited", func(r *rec) bool { return r.path == f })
	checkAlert(t, r, spec, wantAlert{Action: "Audit (Block)", PolicyName: "audited", Result: passed})
}

func TestNetworkAndCapabilities(t *testing.T) {
	l := getLab(t)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{},
		pol("net", policy.Rule{Class: policy.ClassNetwork, Matcher: policy.MatchProtocol, Protocol: "udp", Action: policy.ActionBlock}),
		pol("cap", policy.Rule{Class: policy.ClassCapabilities, Matcher: policy.MatchCapability, Capability: "chown", Action: policy.ActionBlock}))
	if got := l.helper(t, cg, false, "socket udp"); got != eperm {
		t.Errorf("udp socket: errno %d, want EPERM", got)
	}
	if got := l.helper(t, cg, false, "socket tcp"); got != 0 {
		t.Errorf("tcp socket: errno %d", got)
	}
	if got := l.helper(t, nil, false, "socket udp"); got != 0 {
		t.Errorf("udp socket out of scope: errno %d", got)
	}
	r := l.expect(t, id, "udp", func(r *rec) bool { return r.Hook == HookSocketCreate })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "net", Operation: "Network",
		Resource: "domain=AF_INET type=SOCK_DGRAM protocol=0", Data: "lsm=SOCKET_CREATE", Result: denied})

	dir := guest.SharedTempDir(t)
	f := mkfile(t, dir+"/f", false)
	if got := l.helper(t, cg, false, "chown "+f); got != eperm {
		t.Errorf("chown as root: errno %d, want EPERM (CAP_CHOWN blocked)", got)
	}
	if got := l.helper(t, nil, false, "chown "+f); got != 0 {
		t.Errorf("chown out of scope: errno %d", got)
	}
	r = l.expect(t, id, "chown", func(r *rec) bool { return r.Hook == HookCapable })
	checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "cap", Operation: "Capabilities", Resource: "CAP_CHOWN", Data: "lsm=CAPABLE", Result: denied})
}

func TestPathOperations(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	prot := dir + "/protected/"
	victim := mkfile(t, prot+"victim", false)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{}, pol("paths",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchDirectory, Dir: prot, Recursive: true, ReadOnly: true, Action: policy.ActionBlock}))
	for _, c := range []struct {
		op   string
		hook Hook
		path string
	}{
		{"unlink " + victim, HookPathUnlink, victim},
		{"mkdir " + prot + "newdir", HookPathMkdir, prot + "newdir"},
		{"rename " + victim + " " + dir + "/moved", HookPathRename, victim},
	} {
		if got := l.helper(t, cg, false, c.op); got != eperm {
			t.Errorf("%s: errno %d, want EPERM", c.op, got)
			continue
		}
		r := l.expect(t, id, c.op, func(r *rec) bool { return r.Hook == c.hook })
		if r.path != c.path {
			t.Errorf("%s: event path %q, want %q", c.op, r.path, c.path)
		}
		checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "paths", Operation: "File", Result: denied})
	}
	if got := l.helper(t, cg, false, "open "+victim); got != 0 {
		t.Errorf("read of %s: errno %d", victim, got)
	}
	if got := l.helper(t, nil, false, "mkdir "+filepath.Join(prot, "outside")); got != 0 {
		t.Errorf("mkdir out of scope: errno %d", got)
	}
}

// TestCreateOperations checks that link, symlink and mknod (FIFO, device
// and, through bind(2), an AF_UNIX socket file) are writes of the new path
// and that link is also a write of the existing file; out of scope, and in
// scope outside the rule, they succeed without an event.
func TestCreateOperations(t *testing.T) {
	l := getLab(t)
	dir := guest.SharedTempDir(t)
	prot := dir + "/protected/"
	free := dir + "/free/"
	victim := mkfile(t, prot+"victim", false)
	plain := mkfile(t, free+"plain", false)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)
	spec := l.apply(t, id, engine.Workload{}, pol("create",
		policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchDirectory, Dir: prot, Recursive: true, ReadOnly: true, Action: policy.ActionBlock}))
	for _, c := range []struct {
		op   string
		made string // the file the operation creates
		path string // the denied path: the event's Resource
		data string
	}{
		{"link " + victim + " " + free + "alias", free + "alias", victim, "lsm=FILE_LINK"},
		{"link " + plain + " " + prot + "alias", prot + "alias", prot + "alias", "lsm=FILE_LINK"},
		{"symlink " + plain + " " + prot + "sym", prot + "sym", prot + "sym", "lsm=FILE_SYMLINK"},
		{"mknod " + prot + "fifo fifo", prot + "fifo", prot + "fifo", "lsm=FILE_MKNOD"},
		{"mknod " + prot + "reg reg", prot + "reg", prot + "reg", "lsm=FILE_MKNOD"},
		{"mknod " + prot + "null chr", prot + "null", prot + "null", "lsm=FILE_MKNOD"},
		{"bind " + prot + "sock", prot + "sock", prot + "sock", "lsm=FILE_MKNOD"},
	} {
		if got := l.helper(t, cg, false, c.op); got != eperm {
			t.Errorf("%s in scope: errno %d, want EPERM", c.op, got)
			continue
		}
		r := l.expect(t, id, c.op, func(r *rec) bool { return true })
		checkAlert(t, r, spec, wantAlert{Action: "Block", PolicyName: "create", Operation: "File", Resource: c.path,
			Data: c.data, Result: denied, Source: l.self})
		if _, err := os.Lstat(c.made); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s in scope made %s: %v", c.op, c.made, err)
		}
		if got := l.helper(t, nil, false, c.op); got != 0 {
			t.Errorf("%s out of scope: errno %d", c.op, got)
		}
		if err := os.Remove(c.made); err != nil {
			t.Errorf("%s out of scope: %v", c.op, err)
		}
	}
	// Outside the rule nothing is denied or reported: the next event is the
	// final denial's.
	for _, op := range []string{"link " + plain + " " + free + "alias", "symlink " + victim + " " + free + "sym",
		"mknod " + free + "fifo fifo", "bind " + free + "sock"} {
		if got := l.helper(t, cg, false, op); got != 0 {
			t.Errorf("%s in scope, outside the rule: errno %d", op, got)
		}
	}
	if got := l.helper(t, cg, false, "mknod "+prot+"last fifo"); got != eperm {
		t.Fatalf("mknod %slast: errno %d, want EPERM", prot, got)
	}
	if r := l.expect(t, id, "final denial", func(r *rec) bool { return true }); r.path != prot+"last" {
		t.Errorf("event for %q (%s), want only the final denial's", r.path, r.Hook)
	}
}
