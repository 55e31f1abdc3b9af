//go:build vmguest

package bpflsm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// lab is the package's one enforcer, shared by the guest tests (which run
// one after the other), with its events copied into a channel.
type lab struct {
	e      *Enforcer
	events chan rec
	self   string
	// decodeErrors counts records the decoder refused.
	decodeErrors atomic.Int64
}

// rec is an event with its strings copied out of the reader's buffer.
type rec struct {
	Event
	path, source string
}

var (
	labOnce sync.Once
	theLab  *lab
	labErr  error
)

func getLab(t *testing.T) *lab {
	t.Helper()
	labOnce.Do(func() {
		theLab, labErr = newLab(Options{WakeupBytes: 1, FlushInterval: 10 * time.Millisecond, RuleEventsPerSecond: -1, WorkloadEventsPerSecond: -1})
	})
	if labErr != nil {
		t.Fatalf("%+v", labErr)
	}
	return theLab
}

// newLab loads an enforcer with opts and copies its events into the lab's
// channel until the enforcer is closed (then the channel is closed).
func newLab(opts Options) (*lab, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	self, _ := os.Executable()
	l := &lab{e: e, events: make(chan rec, 1<<16), self: self}
	go l.read()
	return l, nil
}

func (l *lab) read() {
	var ev Event
	for {
		if err := l.e.Reader().Read(&ev); err != nil {
			if errors.Is(err, ErrShortEvent) {
				l.decodeErrors.Add(1)
				continue
			}
			close(l.events)
			return
		}
		// ev.Path and ev.Source alias the reader's buffer: the record keeps
		// its own copies.
		r := rec{Event: ev, path: string(ev.Path), source: string(ev.Source)}
		r.Path, r.Source = []byte(r.path), []byte(r.source)
		l.events <- r
	}
}

// ownLab loads an enforcer with opts for one test (the shared lab neither
// throttles nor batches wake-ups); it is closed when the test ends.
func ownLab(t *testing.T, opts Options) *lab {
	t.Helper()
	l, err := newLab(opts)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() {
		if err := l.e.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// apply compiles policies for a container of namespace "ns" and enforces
// them for cg until the test ends.
func (l *lab) apply(t *testing.T, id WorkloadID, w engine.Workload, ps ...*policy.Policy) *Spec {
	t.Helper()
	w.Namespace = "ns"
	spec, err := CompileFor(ps, w, l.e.CompileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.e.Apply(id, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.e.Remove(id); err != nil {
			t.Error(err)
		}
	})
	l.drain()
	return spec
}

func (l *lab) drain() {
	for {
		select {
		case <-l.events:
		default:
			return
		}
	}
}

// expect returns the first event of workload id that match accepts.
func (l *lab) expect(t *testing.T, id WorkloadID, what string, match func(*rec) bool) *rec {
	t.Helper()
	return l.expectWithin(t, id, 10*time.Second, what, match)
}

// expectWithin is expect with a deadline of d.
func (l *lab) expectWithin(t *testing.T, id WorkloadID, d time.Duration, what string, match func(*rec) bool) *rec {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case r, ok := <-l.events:
			if !ok {
				t.Fatal("event reader stopped")
			}
			if r.Workload == id && match(&r) {
				return &r
			}
		case <-deadline:
			t.Fatalf("no event within %v: %s", d, what)
			return nil
		}
	}
}

// helper runs the test binary in cg as a helper doing op; it returns the
// errno of op.
func (l *lab) helper(t *testing.T, cg *guest.Cgroup, asUser bool, op string) int {
	t.Helper()
	var cmd *exec.Cmd
	if cg != nil {
		cmd = cg.Command(l.self)
	} else {
		cmd = exec.Command(l.self)
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+op)
	if asUser {
		guest.AsTestUser(cmd)
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("helper %q: %v", op, err)
	}
	return 0
}

func pol(name string, rules ...policy.Rule) *policy.Policy {
	idx := map[string]int{}
	for i := range rules {
		r := &rules[i]
		if r.Section == "" {
			r.Section = string(r.Class) + "." + map[policy.Matcher]string{
				policy.MatchPath: "matchPaths", policy.MatchExecName: "matchPaths", policy.MatchDirectory: "matchDirectories",
				policy.MatchPattern: "matchPatterns", policy.MatchProtocol: "matchProtocols", policy.MatchCapability: "matchCapabilities",
			}[r.Matcher]
		}
		r.Index = idx[r.Section]
		idx[r.Section]++
		if r.Severity == 0 {
			r.Severity = 5
		}
	}
	return &policy.Policy{Kind: policy.KindPolicy, Name: name, Namespace: "ns", Rules: rules}
}

// checkAlert checks the KubeArmor fields of an event's alert.
// wantAlert lists the alert fields to check (empty: not checked).
type wantAlert struct{ Action, PolicyName, Operation, Resource, Data, Result, Source string }

func checkAlert(t *testing.T, r *rec, spec *Spec, want wantAlert) {
	t.Helper()
	a := Alert(&r.Event, spec, AlertOptions{})
	for _, c := range []struct{ name, got, want string }{
		{"Action", a.Action, want.Action}, {"PolicyName", a.PolicyName, want.PolicyName},
		{"Operation", a.Operation, want.Operation}, {"Resource", a.Resource, want.Resource},
		{"Data", a.Data, want.Data}, {"Result", a.Result, want.Result}, {"Enforcer", a.Enforcer, "BPFLSM"},
		{"Type", a.Type, "MatchedPolicy"}, {"Source", a.Source, want.Source},
	} {
		if c.want != "" && c.got != c.want {
			t.Errorf("alert %s = %q, want %q (alert %v)", c.name, c.got, c.want, a)
		}
	}
	if a.HostPID == 0 || (a.PolicyName != engine.DefaultPosturePolicyName && a.Severity == "") {
		t.Errorf("alert lacks HostPID or Severity: %v", a)
	}
}

const (
	eperm   = int(syscall.EPERM)
	denied  = "Operation not permitted"
	passed  = "Passed"
	dataOpn = "lsm=FILE_OPEN"
)

// tree makes dir/name files (mode 0755, busybox copies when exe).
func mkfile(t *testing.T, path string, exe bool) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if exe {
		guest.CopyFile(t, "/bin/busybox", path, 0o755)
	} else if err := os.WriteFile(path, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
