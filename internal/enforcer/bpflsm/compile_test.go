package bpflsm

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/pathglob"
	"github.com/bulwark-security/bulwark/internal/policy"
)

func TestCompileIsDeterministic(t *testing.T) {
	tree := newDiffTree("/srv")
	classes := []policy.Class{policy.ClassProcess, policy.ClassFile, policy.ClassNetwork, policy.ClassCapabilities}
	for seed := range uint64(50) {
		g := &diffGen{r: rand.New(rand.NewPCG(seed, 0)), tree: tree}
		ps := g.policies(classes, 10)
		w := g.workload()
		a, err := CompileFor(ps, w, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Reversed input order selects and orders the same policies.
		rev := make([]*policy.Policy, len(ps))
		for i, p := range ps {
			rev[len(ps)-1-i] = p
		}
		b, err := CompileFor(rev, w, CompileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: compile differs between runs/orders", seed)
		}
		for i := 1; i < len(a.Entries); i++ {
			x, y := &a.Entries[i-1], &a.Entries[i]
			if x.Kind() == y.Kind() && x.TargetHash == y.TargetHash && x.SourceHash == y.SourceHash {
				t.Fatalf("seed %d: duplicate key %v", seed, x)
			}
		}
	}
}

// TestCompileCombinesRulesOnOneTarget: two rules on one path give one
// entry holding both verdicts, Block beating Allow in every combo.
func TestCompileCombinesRulesOnOneTarget(t *testing.T) {
	ps := []*policy.Policy{
		{Kind: policy.KindPolicy, Name: "a", Namespace: "ns", Rules: []policy.Rule{{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: "/etc/x", Action: policy.ActionAllow, Section: "file.matchPaths"}}},
		{Kind: policy.KindPolicy, Name: "b", Namespace: "ns", Rules: []policy.Rule{{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: "/etc/x", Action: policy.ActionBlock, ReadOnly: true, Section: "file.matchPaths"}}},
	}
	s, err := CompileFor(ps, engine.Workload{Namespace: "ns"}, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(s.Entries))
	}
	v := s.Entries[0].Verdicts
	if v[0] != (Verdicts{Permit: 1}) || v[ComboWrite] != (Verdicts{Deny: 2, Permit: 1}) {
		t.Errorf("verdicts read %+v write %+v", v[0], v[ComboWrite])
	}
	if s.AllowList != 1<<ClassFile {
		t.Errorf("allow list %b", s.AllowList)
	}
}

func TestCompileDetectsCollisions(t *testing.T) {
	// With both seeds zero every string of NUL bytes hashes to 0: "\x00"
	// and "\x00\x00" collide in h1, and the compiler must refuse them.
	ps := []*policy.Policy{{Kind: policy.KindPolicy, Name: "a", Namespace: "ns", Rules: []policy.Rule{
		{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: "\x00", Action: policy.ActionBlock},
		{Class: policy.ClassFile, Matcher: policy.MatchPath, Path: "\x00\x00", Action: policy.ActionBlock},
	}}}
	_, err := CompileFor(ps, engine.Workload{Namespace: "ns"}, CompileOptions{Seed: Seed{H1: 0, H2: 1}})
	var ce *CollisionError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a CollisionError", err)
	}
}

func TestDFAAgreesWithPathglob(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	atoms := []string{"a", "b", "/", "*", "**", "?", "[ab]", "[^a]", "{a,b/}", "{x,*}", ".", "c"}
	alpha := "ab/c.x"
	for range 3000 {
		var pb strings.Builder
		pb.WriteString("/")
		for range 1 + r.IntN(6) {
			pb.WriteString(atoms[r.IntN(len(atoms))])
		}
		pat := pb.String()
		if _, err := pathglob.Compile(pat); err != nil {
			continue
		}
		d, _, err := buildDFA([]string{pat}, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		for range 30 {
			var b strings.Builder
			b.WriteString("/")
			for range r.IntN(8) {
				b.WriteByte(alpha[r.IntN(len(alpha))])
			}
			path := b.String()
			if got, want := len(d.Match(path)) == 1, pathglob.Match(pat, path); got != want {
				t.Fatalf("pattern %q path %q: DFA %v, pathglob %v", pat, path, got, want)
			}
		}
	}
}

func TestNewRefusedOnThisHost(t *testing.T) {
	e, err := New(Options{})
	if err == nil {
		e.Close()
		t.Skip("BPF-LSM loads on this kernel")
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("New: %v, want an error matching ErrNotSupported", err)
	}
	t.Logf("New: %v", err)
}

func TestNewNeedsBPFInLSMList(t *testing.T) {
	f := t.TempDir() + "/lsm"
	if err := writeFile(f, "lockdown,capability,apparmor"); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{LSMFile: f})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "not in the active LSM list") {
		t.Fatalf("New: %v", err)
	}
}

func TestEventHeaderSize(t *testing.T) {
	if n := binary.Size(bulwarkEvent{}); n != eventHeaderSize {
		t.Fatalf("sizeof(struct event) = %d, decoder assumes %d", n, eventHeaderSize)
	}
}

func TestDecodeAndAlert(t *testing.T) {
	b := make([]byte, eventHeaderSize)
	le := binary.LittleEndian
	le.PutUint64(b[8:], 42)
	le.PutUint32(b[20:], 1)
	le.PutUint32(b[24:], 100)
	le.PutUint16(b[44:], uint16(HookFileOpen))
	b[46], b[47] = byte(ActionBlock), byte(ClassFile)
	le.PutUint32(b[48:], uint32(0xffffffff)) // -EPERM
	le.PutUint16(b[68:], 4)
	le.PutUint16(b[70:], 8)
	b = append(b, "/etc/bin/cat"...)
	var ev Event
	if err := DecodeEvent(b, &ev); err != nil {
		t.Fatal(err)
	}
	spec := &Spec{Rules: []RuleInfo{{Policy: "p", Severity: 7, Tags: []string{"x", "y"}, Message: "m"}}}
	a := Alert(&ev, spec, AlertOptions{})
	if a.PolicyName != "p" || a.Severity != "7" || a.Tags != "x,y" || a.Resource != "/etc" || a.Source != "/bin/cat" ||
		a.Result != "Operation not permitted" || a.Data != "lsm=FILE_OPEN" || a.Operation != "File" || a.Action != "Block" || a.Type != "MatchedPolicy" {
		t.Fatalf("alert %v", a)
	}
	if err := DecodeEvent(b[:len(b)-1], &ev); !errors.Is(err, ErrShortEvent) {
		t.Fatalf("truncated: %v", err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(make([]byte, eventHeaderSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		if DecodeEvent(b, &ev) == nil {
			_ = Alert(&ev, &Spec{Rules: []RuleInfo{{Policy: "p"}}}, AlertOptions{})
			_ = Alert(&ev, nil, AlertOptions{})
		}
	})
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
