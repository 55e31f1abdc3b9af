//go:build vmguest

package bpflsm

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// server is a helper process serving operations inside the test cgroup.
type server struct {
	src string
	uid uint32
	pid int
	in  io.WriteCloser
	out *bufio.Scanner
}

func (s *server) do(t *testing.T, op string) int {
	t.Helper()
	if _, err := fmt.Fprintln(s.in, op); err != nil {
		t.Fatal(err)
	}
	if !s.out.Scan() {
		t.Fatalf("helper %s exited", s.src)
	}
	n, err := strconv.Atoi(s.out.Text())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDifferential runs random policy sets and operations (exec, open for
// read or write, socket) from helpers inside a test cgroup, with several
// source executables and users, and checks every outcome and event against
// engine.Decide.
func TestDifferential(t *testing.T) {
	l := getLab(t)
	root := guest.SharedTempDir(t)
	tree := newDiffTree(root)
	proto := mkfile(t, root+"/.busybox", true)
	for _, f := range tree.Files {
		if err := os.MkdirAll(filepath.Dir(f), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(proto, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(proto, 0o777); err != nil {
		t.Fatal(err)
	}
	marker := mkfile(t, root+"/marker", false)
	os.Chmod(marker, 0o666)
	cg := guest.NewCgroup(t)
	id := WorkloadID(cg.ID)

	// Helpers: every source executable, as root and as the test user. They
	// start before any rules exist.
	var servers []*server
	for _, src := range tree.Sources {
		if err := os.MkdirAll(filepath.Dir(src), 0o777); err != nil {
			t.Fatal(err)
		}
		guest.CopyFile(t, l.self, src, 0o755)
		for _, asUser := range []bool{false, true} {
			cmd := cg.Command(src)
			cmd.Env = append(os.Environ(), helperEnv+"=serve")
			cmd.SysProcAttr.Setsid = true // no controlling terminal: pts never holds
			if asUser {
				guest.AsTestUser(cmd)
			}
			in, _ := cmd.StdinPipe()
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Close(); cmd.Wait() })
			s := &server{src: src, pid: cmd.Process.Pid, in: in, out: bufio.NewScanner(out)}
			if asUser {
				s.uid = guest.TestUID
			}
			servers = append(servers, s)
		}
	}
	markerPolicy := pol("zz-marker", policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: marker, Action: policy.ActionAudit})

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BULWARK_DIFF_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (BULWARK_DIFF_SEED reproduces)", seed)
	g := &diffGen{r: rand.New(rand.NewPCG(seed, 7)), tree: tree}
	classes := []policy.Class{policy.ClassProcess, policy.ClassFile, policy.ClassFile, policy.ClassNetwork}
	sets, perSet := 40, 25
	ops, denials, events := 0, 0, 0
	defer func() { l.e.Remove(id) }()
	for set := range sets {
		ps := append(g.policies(classes, 6), markerPolicy)
		// Network rules: only protocols a plain socket() can be checked against.
		for _, p := range ps {
			for i := range p.Rules {
				if r := &p.Rules[i]; r.Class == policy.ClassNetwork {
					r.Protocol = g.pick([]string{"tcp", "udp", "stream", "dgram", "all"})
				}
			}
		}
		w := g.workload()
		w.Namespace = "ns"
		rs := engine.Compile(ps, w)
		spec, err := Compile(rs, l.e.CompileOptions())
		if err != nil {
			t.Fatal(err)
		}
		if err := l.e.Apply(id, spec); err != nil {
			t.Fatal(err)
		}
		l.drain()
		for range perSet {
			s := servers[g.r.IntN(len(servers))]
			op := engine.Operation{Source: s.src, UID: s.uid, Owner: 0, OwnerKnown: true}
			var cmd string
			var hook Hook
			switch k := g.r.IntN(10); {
			case k < 4:
				op.Kind, op.Path, hook = engine.OpProcess, g.pick(tree.Files), HookBprmCheck
				cmd = "exec " + op.Path
			case k < 9:
				op.Kind, op.Path, hook = engine.OpFile, g.pick(tree.Files), HookFileOpen
				op.Write = g.r.IntN(2) == 0
				cmd = "open " + op.Path
				if op.Write {
					cmd = "write " + op.Path
				}
			default:
				op.Kind, hook, op.OwnerKnown = engine.OpNetwork, HookSocketCreate, false
				if g.r.IntN(2) == 0 {
					op.Protocol, op.SocketType, cmd = "tcp", "stream", "socket tcp"
				} else {
					op.Protocol, op.SocketType, cmd = "udp", "dgram", "socket udp"
				}
			}
			d := rs.Decide(op)
			errno := s.do(t, cmd)
			ops++
			if d.Denied() {
				denials++
			}
			desc := func() string {
				return fmt.Sprintf("set %d: %s by %s uid %d: %s\n%s", set, cmd, s.src, s.uid, d.Reason, describePolicies(ps, w))
			}
			if want := map[bool]int{true: eperm, false: 0}[d.Denied()]; errno != want {
				t.Fatalf("errno %d, engine says %s: %s", errno, d.Action, desc())
			}
			// The marker's event closes the operation's events.
			s.do(t, "open "+marker)
			var got *rec
			for {
				r := l.expect(t, id, "marker after "+cmd, func(r *rec) bool { return true })
				if r.path == marker && r.HostPID == uint32(s.pid) {
					break
				}
				if r.Hook == hook && (op.Kind == engine.OpNetwork || r.path == op.Path) && got == nil {
					got = r
				}
			}
			if !d.Alert {
				if got != nil {
					t.Fatalf("unexpected event %s rule %d: %s", got.Action.Engine(), got.Rule, desc())
				}
				continue
			}
			events++
			if got == nil {
				t.Fatalf("no event, engine says %s: %s", d.Action, desc())
			}
			if got.Action != kernelAction(d) {
				t.Fatalf("event action %s, engine %s: %s", got.Action.Engine(), d.Action, desc())
			}
			if why := checkProvenance(spec, got.Rule, d); why != "" {
				t.Fatalf("provenance: %s: %s", why, desc())
			}
			if wantRet := map[bool]int32{true: -int32(syscall.EPERM), false: 0}[d.Denied()]; got.Ret != wantRet {
				t.Fatalf("event ret %d: %s", got.Ret, desc())
			}
		}
	}
	c, _ := l.e.Counters()
	t.Logf("%d policy sets, %d operations (%d denied, %d alerts) agree with the engine; counters %+v usage %+v", sets, ops, denials, events, c, l.e.Usage())
}
