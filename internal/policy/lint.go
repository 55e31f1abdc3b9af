package policy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Path length limits the lint checks against.
const (
	pathMax         = 4096 // Linux PATH_MAX
	kubeArmorMaxKey = 200  // KubeArmor's BPF map key size for paths
)

// Lint reports policies that are valid but probably not what their author
// meant: conflicting and shadowed rules, patterns that cannot match,
// allow-lists that change a class's default posture, over-long paths and,
// when opts.Root is set, targets that are symlinks. Each warning is
// positioned at the rule concerned.
//
// Rules are compared through indexes, not pairwise, so the lint takes time
// linear in the rules and the length of their paths: a rule is reported
// once against the first earlier rule it conflicts with or duplicates, and
// a path once per directory rule covering it (the first of those alike).
func Lint(policies []*Policy, opts Options) []Diagnostic {
	l := linter{opts: opts, first: make(map[ruleKey]*lintRule), dirs: make(map[string]*dirTrie)}
	var rules []*lintRule
	for _, p := range policies {
		l.seq++
		l.posture(p)
		bucket := selectorKey(p)
		for i := range p.Rules {
			r := &lintRule{Rule: &p.Rules[i], seq: l.seq}
			r.bucket = bucket + "/" + string(r.Class)
			l.at(r.seq, 1, 0)
			l.unmatchable(r.Rule)
			l.length(r.Rule)
			l.symlink(r.Rule)
			l.index(r)
			rules = append(rules, r)
			l.seq++
		}
	}
	for _, r := range rules {
		l.overlap(r)
	}
	slices.SortStableFunc(l.diags, func(a, b lintDiag) int {
		return cmp.Or(cmp.Compare(a.seq, b.seq), cmp.Compare(a.phase, b.phase), cmp.Compare(a.other, b.other))
	})
	out := make([]Diagnostic, len(l.diags))
	for i, d := range l.diags {
		out[i] = d.Diagnostic
	}
	return out
}

type linter struct {
	opts  Options
	diags []lintDiag
	// seq numbers the policies and rules in input order; tag places the
	// next warning in the output.
	seq int
	tag lintDiag
	// first holds the first rule per ruleKey; dirs the directory rules
	// that can cover paths, per bucket.
	first map[ruleKey]*lintRule
	dirs  map[string]*dirTrie
}

// lintRule is a rule with its place in the input and its bucket: the
// workloads its policy selects and its class. Only rules in one bucket are
// compared.
type lintRule struct {
	*Rule
	seq    int
	bucket string
}

// lintDiag is a warning with its place in the output: warnings come in the
// order of the rules they are about (seq), then of phase, then of the other
// rule concerned, as a pairwise comparison in input order would give them.
type lintDiag struct {
	Diagnostic
	seq, phase, other int
}

// at places the next warnings.
func (l *linter) at(seq, phase, other int) { l.tag = lintDiag{seq: seq, phase: phase, other: other} }

func (l *linter) warn(r *Rule, format string, args ...any) {
	d := l.tag
	d.Diagnostic = Diagnostic{File: r.Location.File, Line: r.Location.Line, Column: r.Location.Column,
		Field: fmt.Sprintf("spec.%s[%d]", r.Section, r.Index), Severity: SeverityWarning, Message: fmt.Sprintf(format, args...)}
	l.diags = append(l.diags, d)
}

// posture warns once per class when a policy's Allow rules put the class
// into allow-list mode.
func (l *linter) posture(p *Policy) {
	l.at(l.seq, 0, 0)
	warned := make(map[Class]bool)
	for i := range p.Rules {
		r := &p.Rules[i]
		c := r.Class.PostureClass()
		if r.Action != ActionAllow || warned[c] || c == ClassSyscalls {
			continue
		}
		warned[c] = true
		what := map[Class]string{ClassFile: "file and process access", ClassNetwork: "network access",
			ClassCapabilities: "capability use", ClassDevice: "USB devices"}[c]
		l.warn(r, "this Allow rule switches %s to allow-list mode: everything not allowed by some policy on the same workloads now gets the default posture", what)
	}
}

// target is the string a rule matches on, for comparing rules.
func (r *Rule) target() string {
	switch r.Matcher {
	case MatchPath:
		return r.Path
	case MatchExecName:
		return "*/" + r.ExecName
	case MatchDirectory:
		return r.Dir
	case MatchPattern:
		return r.Pattern
	case MatchProtocol:
		return r.Protocol
	case MatchDNS:
		return r.Domain
	case MatchCapability:
		return r.Capability
	case MatchSyscall:
		return strings.Join(r.Syscalls, ",")
	case MatchDevice:
		b, _ := json.Marshal(r.Device)
		return string(b)
	}
	return ""
}

// unmatchable warns about patterns and paths that can never match a path.
func (l *linter) unmatchable(r *Rule) {
	t := r.target()
	switch r.Matcher {
	case MatchPattern:
		if !strings.HasPrefix(t, "/") && !strings.HasPrefix(t, "*") {
			l.warn(r, "pattern %q is relative: it can never match an absolute path", t)
		} else if strings.ContainsAny(t, " \t") {
			l.warn(r, "pattern %q contains blanks: it looks like a command line and will not match an executable or file path", t)
		}
	case MatchPath, MatchDirectory:
		if strings.Contains(t, "//") || strings.Contains(t+"/", "/./") || strings.Contains(t+"/", "/../") {
			l.warn(r, "%q is not a clean path (the kernel reports clean paths, so it never matches)", t)
		}
	}
}

// length warns about targets longer than the kernel or KubeArmor support.
func (l *linter) length(r *Rule) {
	switch r.Matcher {
	case MatchPath, MatchDirectory, MatchPattern:
	default:
		return
	}
	switch t := r.target(); {
	case len(t) >= pathMax:
		l.warn(r, "%d bytes is longer than PATH_MAX (%d): it can never match", len(t), pathMax)
	case len(t) > kubeArmorMaxKey:
		l.warn(r, "%d bytes is longer than KubeArmor's %d-byte path limit: KubeArmor's BPF enforcer would not enforce it", len(t), kubeArmorMaxKey)
	}
}

// symlink warns when a path target is a symlink under opts.Root: policies
// must name real paths, since the kernel reports resolved ones.
func (l *linter) symlink(r *Rule) {
	if l.opts.Root == "" || (r.Matcher != MatchPath && r.Matcher != MatchDirectory) {
		return
	}
	t := r.target()
	full := filepath.Join(l.opts.Root, t)
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil || resolved == filepath.Clean(full) {
		return
	}
	rel, err := filepath.Rel(l.opts.Root, resolved)
	if err != nil {
		return
	}
	real := "/" + filepath.ToSlash(rel)
	if strings.HasSuffix(t, "/") {
		real += "/"
	}
	if real != t {
		l.warn(r, "%q is a symlink to %q: name the real path, the kernel reports resolved paths", t, real)
	}
}

// selectorKey identifies the workloads a policy selects.
func selectorKey(p *Policy) string {
	b, _ := json.Marshal(p.Selector)
	return string(p.Kind) + "/" + p.Namespace + "/" + string(b)
}

// ruleKey indexes rules by bucket and target, and by action and options
// when set.
type ruleKey struct {
	bucket  string
	matcher Matcher
	target  string
	action  Action
	options string
}

// dirTrie holds directory rules by path component: the rules at a node name
// the directory spelled by the components leading to it.
type dirTrie struct {
	children map[string]*dirTrie
	// rules are those that cover the files they name (no ownerOnly,
	// fromSource or PTS), by recursive, action and readOnly, in input order.
	rules map[coverKey][]*lintRule
}

type coverKey struct {
	recursive bool
	action    Action
	readOnly  bool
}

// index records r for overlap.
func (l *linter) index(r *lintRule) {
	k := ruleKey{bucket: r.bucket, matcher: r.Matcher, target: r.target(), action: r.Action}
	for _, k := range []ruleKey{k, {k.bucket, k.matcher, k.target, k.action, optionsKey(r.Rule)}} {
		if l.first[k] == nil {
			l.first[k] = r
		}
	}
	if r.Matcher != MatchDirectory || r.OwnerOnly || len(r.FromSource) > 0 || r.PTS != nil || !strings.HasSuffix(r.Dir, "/") {
		return
	}
	t := l.dirs[r.bucket]
	if t == nil {
		t = &dirTrie{}
		l.dirs[r.bucket] = t
	}
	for c := range strings.SplitSeq(strings.TrimSuffix(r.Dir, "/"), "/") {
		if t.children == nil {
			t.children = make(map[string]*dirTrie)
		}
		if t.children[c] == nil {
			t.children[c] = &dirTrie{}
		}
		t = t.children[c]
	}
	if t.rules == nil {
		t.rules = make(map[coverKey][]*lintRule)
	}
	ck := coverKey{r.Recursive, r.Action, r.ReadOnly}
	t.rules[ck] = append(t.rules[ck], r)
}

// overlap compares r with the rules of policies that select the same
// workloads: Allow and Block on one target, duplicates, and exact paths
// shadowed by a directory rule.
func (l *linter) overlap(r *lintRule) {
	k := ruleKey{bucket: r.bucket, matcher: r.Matcher, target: r.target()}
	for _, a := range []Action{ActionAllow, ActionBlock} {
		k.action = a
		if o := l.first[k]; o != nil && o.seq < r.seq && conflict(o.Action, r.Action) {
			l.at(r.seq, 2, o.seq)
			l.warn(r.Rule, "%s conflicts with %s of the same target at %s", r.Action, o.Action, at(o.Rule))
		}
	}
	k.action, k.options = r.Action, optionsKey(r.Rule)
	if o := l.first[k]; o != nil && o.seq < r.seq {
		l.at(r.seq, 2, o.seq)
		l.warn(r.Rule, "duplicate of the rule at %s", at(o.Rule))
	}
	if r.Matcher == MatchPath {
		l.covered(r)
	}
}

// covered warns when directory rules with r's action cover path rule r: a
// recursive rule on an ancestor directory or any rule on its parent, and
// readOnly only if r is. The warning is placed where the later of the two
// rules is.
func (l *linter) covered(r *lintRule) {
	t := l.dirs[r.bucket]
	comps := strings.Split(path.Dir(r.Path), "/")
	if comps[len(comps)-1] == "" {
		comps = comps[:len(comps)-1] // the parent is "/"
	}
	for i, c := range comps {
		if t = t.child(c); t == nil {
			return
		}
		for _, ck := range []coverKey{{true, r.Action, false}, {false, r.Action, false}, {true, r.Action, true}, {false, r.Action, true}} {
			if ck.readOnly && !r.ReadOnly || !ck.recursive && i < len(comps)-1 {
				continue
			}
			if ds := t.rules[ck]; len(ds) > 0 {
				l.at(max(r.seq, ds[0].seq), 2, min(r.seq, ds[0].seq))
				l.warn(r.Rule, "%q is already covered by the directory rule at %s", r.Path, at(ds[0].Rule))
			}
		}
	}
}

func (t *dirTrie) child(c string) *dirTrie {
	if t == nil {
		return nil
	}
	return t.children[c]
}

func conflict(a, b Action) bool {
	return a == ActionAllow && b == ActionBlock || a == ActionBlock && b == ActionAllow
}

func at(r *Rule) string {
	return fmt.Sprintf("%s:%d:%d", r.Location.File, r.Location.Line, r.Location.Column)
}

// optionsKey identifies how a rule limits its target.
func optionsKey(r *Rule) string {
	b, _ := json.Marshal([]any{r.OwnerOnly, r.ReadOnly, r.FromSource, r.AllowedArgs, r.PTS, r.Recursive})
	return string(b)
}
