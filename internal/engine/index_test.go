package engine

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/internal/pathglob"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// linearDecide decides op by offering every rule whose target matches to
// the evaluation, without the index. The index must not change decisions.
func linearDecide(rs *RuleSet, op Operation) Decision {
	op.Protocol, op.SocketType = normalizeName(op.Protocol), normalizeName(op.SocketType)
	op.Capability = normalizeCapability(op.Capability)
	class, _ := op.Kind.class()
	ev := evaluation{rs: rs, op: op, deny: -1, audit: -1, permit: -1}
	for id := range rs.rules {
		if targetMatches(rs.rules[id].rule, op) {
			ev.consider(ruleID(id))
		}
	}
	return ev.result(class)
}

// globCache keeps linearDecide fast; tests using it do not run in parallel.
var globCache = map[string]*pathglob.Glob{}

func targetMatches(r *policy.Rule, op Operation) bool {
	if kind := opKinds[r.Class]; kind != op.Kind {
		return false
	}
	switch r.Matcher {
	case policy.MatchPath:
		return r.Path == op.Path
	case policy.MatchExecName:
		// The basename of an absolute file path; a directory path has none.
		return strings.Contains(op.Path, "/") && !strings.HasSuffix(op.Path, "/") && path.Base(op.Path) == r.ExecName
	case policy.MatchDirectory:
		return inDir(r.Dir, r.Recursive, op.Path)
	case policy.MatchPattern:
		g, ok := globCache[r.Pattern]
		if !ok {
			g = pathglob.MustCompile(r.Pattern)
			globCache[r.Pattern] = g
		}
		return g.Match(op.Path)
	case policy.MatchProtocol:
		return r.Protocol == "all" || r.Protocol == op.Protocol || r.Protocol == op.SocketType
	case policy.MatchCapability:
		return r.Capability == op.Capability
	}
	return false
}

func FuzzIndexMatchesLinearScan(f *testing.F) {
	rs := Compile([]*policy.Policy{ksp("p",
		procPath("/a/b", allow), procExecName("b", block), procDir("/a/", false, audit), procDir("/a/c/", true, block),
		fileDir("/", true, allow), fileDir("/b/", false, block), filePattern("/a/*/b", block), filePattern("/{a,b}/**", audit),
		filePattern("/a/b*", allow), ownerOnly(filePath("/a/c", block)), readOnly(fileDir("/c/", true, block)),
		from(procPath("/c/a", allow), "/a/b"), filePattern("**/c", audit),
	)}, web)
	f.Add("/a/b", uint8(0))
	f.Add("/a/c/d/b", uint8(1))
	f.Add("/b/", uint8(1))
	f.Fuzz(func(t *testing.T, p string, flags uint8) {
		op := Operation{Kind: OpFile, Path: p, Write: flags&1 != 0, OwnerKnown: flags&2 != 0, Source: "/a/b"}
		if flags&4 != 0 {
			op.Kind = OpProcess
		}
		if got, want := rs.Decide(op), linearDecide(rs, op); got.Reason != want.Reason || got.Action != want.Action {
			t.Fatalf("Decide(%+v) = %s (%s), linear scan says %s (%s)", op, got.Action, got.Reason, want.Action, want.Reason)
		}
	})
}

func TestIndexMatchesLinearScanOnSyntheticRules(t *testing.T) {
	rs := Compile(syntheticPolicies(2_000), web)
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"usr", "bin", "data", "opt", "srv", "app12", "pkg14", "site16", "bin15", "tool10", "config", "x.log", ""}
	kinds := []OpKind{OpProcess, OpFile}
	for range 2_000 {
		n := 1 + rng.IntN(5)
		var p string
		for range n {
			p += "/" + parts[rng.IntN(len(parts))]
		}
		op := Operation{Kind: kinds[rng.IntN(2)], Path: p, Write: rng.IntN(2) == 0}
		if got, want := rs.Decide(op), linearDecide(rs, op); got.Reason != want.Reason {
			t.Fatalf("Decide(%+v) = %s, linear scan says %s", op, got.Reason, want.Reason)
		}
	}
	for _, op := range syntheticOps() {
		if got, want := rs.Decide(op), linearDecide(rs, op); got.Reason != want.Reason {
			t.Fatalf("Decide(%+v) = %s, linear scan says %s", op, got.Reason, want.Reason)
		}
	}
}
