package bpflsm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// benchPolicy makes n file rules (paths, directories and, with patterns,
// globs) that do not match the benchmark paths, plus one Block rule that
// does, so each decision walks the whole path and ends in a deny.
func benchPolicy(n int, patterns bool) *policy.Policy {
	p := &policy.Policy{Kind: policy.KindPolicy, Name: "bench", Namespace: "ns"}
	for i := range n {
		r := policy.Rule{Class: policy.ClassFile, Action: policy.ActionBlock, Section: "file.matchPaths", Index: i}
		switch {
		case patterns && i%10 == 0:
			r.Matcher, r.Pattern, r.Section = policy.MatchPattern, fmt.Sprintf("/srv/p%d/**/*.key", i), "file.matchPatterns"
		case i%3 == 0:
			r.Matcher, r.Dir, r.Recursive, r.Section = policy.MatchDirectory, fmt.Sprintf("/data/d%d/", i), i%2 == 0, "file.matchDirectories"
		default:
			r.Matcher, r.Path = policy.MatchPath, fmt.Sprintf("/data/f%d/file", i)
		}
		p.Rules = append(p.Rules, r)
	}
	p.Rules = append(p.Rules, policy.Rule{Class: policy.ClassFile, Matcher: policy.MatchPath, Action: policy.ActionAudit,
		Path: "/x", Section: "file.matchPaths", Index: n})
	return p
}

func benchPath(depth int) string {
	var b strings.Builder
	for i := range depth - 1 {
		fmt.Fprintf(&b, "/dir%d", i)
	}
	b.WriteString("/file.txt")
	return b.String()
}

// BenchmarkKernelDecision reports the kernel's own time per file decision
// (BPF_PROG_TEST_RUN of the harness, which runs the LSM programs' decision
// functions), by rule count, path depth and patterns.
func BenchmarkKernelDecision(b *testing.B) {
	// Room for two generations of the largest pattern DFA (an update writes
	// the new one beside the old).
	h := newHarness(b, Options{MaxRuleEntries: 1 << 16, MaxDFARows: 1 << 16})
	for _, n := range []int{0, 10, 1000, 10000} {
		for _, depth := range []int{2, 20} {
			for _, pat := range []bool{false, true} {
				if n == 0 && pat {
					continue
				}
				b.Run(fmt.Sprintf("rules=%d/depth=%d/patterns=%v", n, depth, pat), func(b *testing.B) {
					spec, err := CompileFor([]*policy.Policy{benchPolicy(n, pat)}, engine.Workload{Namespace: "ns"}, h.CompileOptions())
					if err != nil {
						b.Fatal(err)
					}
					if err := h.Apply(1, spec); err != nil {
						b.Fatal(err)
					}
					req := &Request{Workload: 1, Class: ClassFile, Path: benchPath(depth), Source: "/usr/bin/cat"}
					b.ResetTimer()
					_, _, d, err := h.Decide(req, max(b.N, 1000))
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(d.Nanoseconds()), "kernel-ns/decision")
				})
			}
		}
	}
}

// BenchmarkCompile measures compiling 10,000 rules.
func BenchmarkCompile(b *testing.B) {
	ps := []*policy.Policy{benchPolicy(10000, true)}
	w := engine.Workload{Namespace: "ns"}
	rs := engine.Compile(ps, w)
	for b.Loop() {
		if _, err := Compile(rs, CompileOptions{MaxDFAStates: 1 << 16}); err != nil {
			b.Fatal(err)
		}
	}
}
