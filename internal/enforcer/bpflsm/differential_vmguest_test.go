//go:build vmguest

package bpflsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// step is one decision the kernel makes for a command, in the kernel's order.
type step struct {
	op   engine.Operation
	hook Hook
}

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
// read or write, socket, link, symlink, mknod) from helpers inside a test
// cgroup, with several source executables and users, and checks every
// outcome and event against engine.Decide.
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
	// The test user creates names in every directory: DAC is checked after
	// the hooks, and would fail what they allow.
	for _, d := range tree.Dirs {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
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
	sets, perSet := 40, 32
	ops, denials, events := 0, 0, 0
	perCmd := map[string]*[2]int{} // operations and denials by command
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
			base := engine.Operation{Source: s.src, UID: s.uid, Owner: 0, OwnerKnown: true}
			op := base
			var cmd, made string
			var steps []step
			switch k := g.r.IntN(13); {
			case k < 4:
				op.Kind, op.Path = engine.OpProcess, g.pick(tree.Files)
				cmd, steps = "exec "+op.Path, []step{{op, HookBprmCheck}}
			case k < 9:
				op.Kind, op.Path = engine.OpFile, g.pick(tree.Files)
				op.Write = g.r.IntN(2) == 0
				cmd = "open " + op.Path
				if op.Write {
					cmd = "write " + op.Path
				}
				steps = []step{{op, HookFileOpen}}
			case k < 10:
				op.Kind, op.OwnerKnown = engine.OpNetwork, false
				if g.r.IntN(2) == 0 {
					op.Protocol, op.SocketType, cmd = "tcp", "stream", "socket tcp"
				} else {
					op.Protocol, op.SocketType, cmd = "udp", "dgram", "socket udp"
				}
				steps = []step{{op, HookSocketCreate}}
			default:
				// Creations make a tree file anew: it is removed first (EEXIST
				// comes before the hooks) and restored after. A name being
				// created has no owner yet.
				made = g.pick(tree.Files)
				op.Kind, op.Path, op.Write, op.OwnerKnown = engine.OpFile, made, true, false
				switch k {
				case 10: // the existing file first, as the kernel decides
					old := base
					old.Kind, old.Path, old.Write = engine.OpFile, g.pick(tree.Files), true
					for old.Path == made {
						old.Path = g.pick(tree.Files)
					}
					cmd, steps = "link "+old.Path+" "+made, []step{{old, HookPathLink}, {op, HookPathLink}}
				case 11:
					cmd, steps = "symlink "+g.pick(tree.Files)+" "+made, []step{{op, HookPathSymlink}}
				default:
					cmd, steps = "mknod "+made+" "+g.pick([]string{"fifo", "reg"}), []step{{op, HookPathMknod}}
				}
				if err := os.Remove(made); err != nil {
					t.Fatal(err)
				}
			}
			// The kernel stops at the first denial.
			var ds []engine.Decision
			denied := false
			for _, st := range steps {
				d := rs.Decide(st.op)
				ds = append(ds, d)
				if denied = d.Denied(); denied {
					break
				}
			}
			errno := s.do(t, cmd)
			if made != "" {
				if err := os.Remove(made); err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				if err := os.Link(proto, made); err != nil {
					t.Fatal(err)
				}
			}
			verb := strings.Fields(cmd)[0]
			if perCmd[verb] == nil {
				perCmd[verb] = new([2]int)
			}
			ops++
			perCmd[verb][0]++
			if denied {
				denials++
				perCmd[verb][1]++
			}
			desc := func() string {
				var b strings.Builder
				for i, d := range ds {
					fmt.Fprintf(&b, "%s: %s %s; ", steps[i].op.Path, d.Action, d.Reason)
				}
				return fmt.Sprintf("set %d: %s by %s uid %d: %s\n%s", set, cmd, s.src, s.uid, b.String(), describePolicies(ps, w))
			}
			if want := map[bool]int{true: eperm, false: 0}[denied]; errno != want {
				t.Fatalf("errno %d, want %d: %s", errno, want, desc())
			}
			// The marker's event closes the operation's events.
			s.do(t, "open "+marker)
			got := make([]*rec, len(ds))
			for {
				r := l.expect(t, id, "marker after "+cmd, func(r *rec) bool { return true })
				if r.path == marker && r.HostPID == uint32(s.pid) {
					break
				}
				for i, st := range steps[:len(ds)] {
					if r.Hook == st.hook && (st.op.Kind == engine.OpNetwork || r.path == st.op.Path) && got[i] == nil {
						got[i] = r
					}
				}
			}
			for i, d := range ds {
				if !d.Alert {
					if got[i] != nil {
						t.Fatalf("unexpected event %s rule %d for %s: %s", got[i].Action.Engine(), got[i].Rule, steps[i].op.Path, desc())
					}
					continue
				}
				events++
				if got[i] == nil {
					t.Fatalf("no event for %s, engine says %s: %s", steps[i].op.Path, d.Action, desc())
				}
				if got[i].Action != kernelAction(d) {
					t.Fatalf("event action %s for %s, engine %s: %s", got[i].Action.Engine(), steps[i].op.Path, d.Action, desc())
				}
				if why := checkProvenance(spec, got[i].Rule, d); why != "" {
					t.Fatalf("provenance for %s: %s: %s", steps[i].op.Path, why, desc())
				}
				if wantRet := map[bool]int32{true: -int32(syscall.EPERM), false: 0}[d.Denied()]; got[i].Ret != wantRet {
					t.Fatalf("event ret %d for %s: %s", got[i].Ret, steps[i].op.Path, desc())
				}
			}
		}
	}
	c, _ := l.e.Counters()
	t.Logf("%d policy sets, %d operations (%d denied, %d alerts) agree with the engine; counters %+v usage %+v", sets, ops, denials, events, c, l.e.Usage())
	for _, verb := range slices.Sorted(maps.Keys(perCmd)) {
		t.Logf("%s: %d operations, %d denied", verb, perCmd[verb][0], perCmd[verb][1])
	}
}
