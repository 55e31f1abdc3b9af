package bpflsm

import (
	"fmt"
	"math/rand/v2"
	"path"
	"strings"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// This file generates random policy sets and operations over a small file
// tree, for the differential tests (host harness and guest kernel) that
// compare the enforcer with engine.Decide.

// diffTree is the universe of a differential run, rooted at Root.
type diffTree struct {
	Root    string
	Files   []string // regular files (also executables)
	Dirs    []string // directories, with trailing '/'
	Sources []string // source executables
}

func newDiffTree(root string) *diffTree {
	t := &diffTree{Root: root}
	dirs := []string{"", "a/", "a/b/", "a/b/c/", "d/", "bin/"}
	deep := "a/"
	for i := range 22 { // depth > 20
		deep += fmt.Sprintf("x%d/", i)
	}
	dirs = append(dirs, deep)
	for _, d := range dirs {
		t.Dirs = append(t.Dirs, root+"/"+d)
	}
	names := []string{"f1", "f2.txt", "run.sh", "key.pem"}
	for _, d := range dirs {
		if d == "bin/" {
			continue
		}
		for _, n := range names {
			t.Files = append(t.Files, root+"/"+d+n)
		}
	}
	t.Sources = []string{root + "/bin/srcA", root + "/bin/srcB", root + "/d/srcC"}
	return t
}

type diffGen struct {
	r    *rand.Rand
	tree *diffTree
}

func (g *diffGen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *diffGen) action() policy.Action {
	return []policy.Action{policy.ActionAllow, policy.ActionAudit, policy.ActionBlock}[g.r.IntN(3)]
}

// pattern makes a glob matching some of the tree.
func (g *diffGen) pattern() string {
	root := g.tree.Root
	return g.pick([]string{
		root + "/a/*", root + "/a/**", root + "/**/*.pem", root + "/*/f?", root + "/a/b/{c,x}/*",
		root + "/[ab]/**/run.sh", root + "/**", root + "/d/*.txt", root + "/a/x*/**/key.pem", root + "/*/[!a]*",
	})
}

func (g *diffGen) fromSource() []policy.Source {
	if g.r.IntN(3) != 0 {
		return nil
	}
	var out []policy.Source
	for range 1 + g.r.IntN(2) {
		if g.r.IntN(3) == 0 {
			out = append(out, policy.Source{Dir: g.tree.Root + "/bin/"})
		} else {
			out = append(out, policy.Source{Path: g.pick(g.tree.Sources)})
		}
	}
	return out
}

func (g *diffGen) rule(classes []policy.Class, idx map[string]int) policy.Rule {
	r := policy.Rule{Class: classes[g.r.IntN(len(classes))], Action: g.action(), Severity: 1 + g.r.IntN(10)}
	switch r.Class {
	case policy.ClassProcess, policy.ClassFile:
		m := g.r.IntN(10)
		switch {
		case m < 4:
			r.Matcher, r.Path, r.Section = policy.MatchPath, g.pick(g.tree.Files), "matchPaths"
		case m < 7:
			r.Matcher, r.Dir, r.Recursive, r.Section = policy.MatchDirectory, g.pick(g.tree.Dirs), g.r.IntN(2) == 0, "matchDirectories"
		case m < 8 && r.Class == policy.ClassProcess:
			r.Matcher, r.ExecName, r.Section = policy.MatchExecName, path.Base(g.pick(g.tree.Files)), "matchPaths"
		default:
			r.Matcher, r.Pattern, r.Section = policy.MatchPattern, g.pattern(), "matchPatterns"
		}
		r.OwnerOnly = g.r.IntN(4) == 0
		if r.Class == policy.ClassFile {
			r.ReadOnly = g.r.IntN(3) == 0
		}
		r.FromSource = g.fromSource()
	case policy.ClassNetwork:
		r.Matcher, r.Section = policy.MatchProtocol, "matchProtocols"
		r.Protocol = g.pick([]string{"tcp", "udp", "icmp", "raw", "stream", "dgram", "all"})
		r.FromSource = g.fromSource()
	case policy.ClassCapabilities:
		r.Matcher, r.Section = policy.MatchCapability, "matchCapabilities"
		r.Capability = g.pick([]string{"net_raw", "chown", "dac_override", "sys_admin"})
		r.FromSource = g.fromSource()
	}
	r.Section = string(r.Class) + "." + r.Section
	r.Index = idx[r.Section]
	idx[r.Section]++
	return r
}

// policies makes 1-3 policies selecting every container of namespace "ns".
func (g *diffGen) policies(classes []policy.Class, rulesPer int) []*policy.Policy {
	var ps []*policy.Policy
	for i := range 1 + g.r.IntN(3) {
		p := &policy.Policy{Kind: policy.KindPolicy, Name: fmt.Sprintf("p%d", i), Namespace: "ns"}
		idx := map[string]int{}
		for range 1 + g.r.IntN(rulesPer) {
			p.Rules = append(p.Rules, g.rule(classes, idx))
		}
		ps = append(ps, p)
	}
	return ps
}

func (g *diffGen) workload() engine.Workload {
	w := engine.Workload{Namespace: "ns"}
	post := func() engine.Posture {
		if g.r.IntN(2) == 0 {
			return engine.PostureBlock
		}
		return engine.PostureAudit
	}
	w.Postures = engine.Postures{File: post(), Network: post(), Capabilities: post()}
	if g.r.IntN(5) == 0 {
		w.PolicyMode = engine.PolicyAudited
	}
	return w
}

// kernelAction is what the kernel reports for an engine decision.
func kernelAction(d engine.Decision) Action {
	switch d.Action {
	case engine.ActionBlock:
		return ActionBlock
	case engine.ActionAudit:
		return ActionAudit
	case engine.ActionAuditBlock:
		return ActionAuditBlock
	}
	return ActionNone
}

// checkProvenance reports how rule id of spec disagrees with d ("" if not).
func checkProvenance(spec *Spec, rule uint32, d engine.Decision) string {
	if d.Source == engine.SourceDefaultPosture {
		if rule != 0 {
			return fmt.Sprintf("rule %d, want DefaultPosture", rule)
		}
		return ""
	}
	if rule == 0 || int(rule) > len(spec.Rules) {
		return fmt.Sprintf("rule %d, want %s %s[%d]", rule, d.PolicyName, d.Rule.Section, d.Rule.Index)
	}
	ri := spec.Rules[rule-1]
	if ri.Policy != d.PolicyName || ri.Section != d.Rule.Section || ri.Index != d.Rule.Index || ri.Kind != d.Rule.Kind || ri.Namespace != d.Rule.Namespace {
		return fmt.Sprintf("rule %d = %s %s[%d], want %s %s[%d]", rule, ri.Policy, ri.Section, ri.Index, d.PolicyName, d.Rule.Section, d.Rule.Index)
	}
	return ""
}

func describePolicies(ps []*policy.Policy, w engine.Workload) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mode=%q postures=%+v\n", w.PolicyMode, w.Postures)
	for _, p := range ps {
		fmt.Fprintf(&b, "policy %s:\n", p.Name)
		for _, r := range p.Rules {
			fmt.Fprintf(&b, "  %s %s[%d] %s path=%q exec=%q dir=%q rec=%v pat=%q proto=%q cap=%q owner=%v ro=%v from=%v\n",
				r.Action, r.Section, r.Index, r.Matcher, r.Path, r.ExecName, r.Dir, r.Recursive, r.Pattern, r.Protocol, r.Capability, r.OwnerOnly, r.ReadOnly, r.FromSource)
		}
	}
	return b.String()
}
