package policy

import (
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
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
func Lint(policies []*Policy, opts Options) []Diagnostic {
	l := linter{opts: opts, seen: make(map[string][]*Rule)}
	for _, p := range policies {
		l.posture(p)
		for i := range p.Rules {
			r := &p.Rules[i]
			l.unmatchable(r)
			l.length(r)
			l.symlink(r)
			l.overlap(selectorKey(p), r)
		}
	}
	return l.diags
}

type linter struct {
	opts  Options
	diags []Diagnostic
	// seen holds the rules so far per selector and class.
	seen map[string][]*Rule
}

func (l *linter) warn(r *Rule, format string, args ...any) {
	l.diags = append(l.diags, Diagnostic{File: r.Location.File, Line: r.Location.Line, Column: r.Location.Column,
		Field: fmt.Sprintf("spec.%s[%d]", r.Section, r.Index), Severity: SeverityWarning, Message: fmt.Sprintf(format, args...)})
}

// posture warns once per class when a policy's Allow rules put the class
// into allow-list mode.
func (l *linter) posture(p *Policy) {
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

// overlap compares r with the earlier rules of policies that select the
// same workloads: Allow and Block on one target, duplicates, and exact
// paths shadowed by a directory rule.
func (l *linter) overlap(selector string, r *Rule) {
	key := selector + "/" + string(r.Class)
	for _, o := range l.seen[key] {
		switch {
		case o.target() == r.target() && o.Matcher == r.Matcher && conflict(o.Action, r.Action):
			l.warn(r, "%s conflicts with %s of the same target at %s", r.Action, o.Action, at(o))
		case o.target() == r.target() && o.Matcher == r.Matcher && sameOptions(o, r) && o.Action == r.Action:
			l.warn(r, "duplicate of the rule at %s", at(o))
		case covers(o, r) && o.Action == r.Action:
			l.warn(r, "%q is already covered by the directory rule at %s", r.Path, at(o))
		case covers(r, o) && o.Action == r.Action:
			l.warn(o, "%q is already covered by the directory rule at %s", o.Path, at(r))
		}
	}
	l.seen[key] = append(l.seen[key], r)
}

func conflict(a, b Action) bool {
	return a == ActionAllow && b == ActionBlock || a == ActionBlock && b == ActionAllow
}

func at(r *Rule) string {
	return fmt.Sprintf("%s:%d:%d", r.Location.File, r.Location.Line, r.Location.Column)
}

// sameOptions reports whether two rules limit their targets identically.
func sameOptions(a, b *Rule) bool {
	ja, _ := json.Marshal(options(a))
	jb, _ := json.Marshal(options(b))
	return string(ja) == string(jb)
}

func options(r *Rule) any {
	return []any{r.OwnerOnly, r.ReadOnly, r.FromSource, r.AllowedArgs, r.PTS, r.Recursive}
}

// covers reports whether directory rule d matches everything exact path
// rule r does, with no narrower options.
func covers(d, r *Rule) bool {
	if d.Matcher != MatchDirectory || r.Matcher != MatchPath || d.OwnerOnly || d.ReadOnly && !r.ReadOnly ||
		len(d.FromSource) > 0 || d.PTS != nil {
		return false
	}
	parent := path.Dir(r.Path) + "/"
	if d.Recursive {
		return strings.HasPrefix(parent, d.Dir)
	}
	return parent == d.Dir
}
