package engine

import (
	"strings"

	"github.com/bulwark-security/bulwark/internal/pathglob"
)

// ruleID is a rule's position in RuleSet.rules; lower ids take precedence
// when several rules give the same verdict.
type ruleID = int32

// index finds the candidate rules of one operation kind. Path rules (exec
// and file) are found by exact path, basename, parent directory, ancestor
// directories and globs; all other rules by name (protocol, capability or
// syscall).
type index struct {
	exact    map[string][]ruleID // path
	execName map[string][]ruleID // basename
	dirs     map[string][]ruleID // non-recursive directory, without trailing "/"
	trees    map[string][]ruleID // recursive directory, without trailing "/"
	// globs holds patterns by the directory part of their literal prefix
	// ("/etc/ssl/*.pem" under "/etc/ssl", "/*" under ""), so that only the
	// globs under a path's ancestors are tried; rootless holds the rest.
	globs    map[string][]globRule
	rootless []globRule
	names    map[string][]ruleID
}

type globRule struct {
	glob *pathglob.Glob
	id   ruleID
}

func add(m *map[string][]ruleID, key string, id ruleID) {
	if *m == nil {
		*m = make(map[string][]ruleID)
	}
	(*m)[key] = append((*m)[key], id)
}

func (ix *index) addGlob(g *pathglob.Glob, id ruleID) {
	prefix := g.Prefix()
	slash := strings.LastIndexByte(prefix, '/')
	if slash < 0 {
		ix.rootless = append(ix.rootless, globRule{glob: g, id: id})
		return
	}
	if ix.globs == nil {
		ix.globs = make(map[string][]globRule)
	}
	ix.globs[prefix[:slash]] = append(ix.globs[prefix[:slash]], globRule{glob: g, id: id})
}

func visitAll(v *evaluation, ids []ruleID) {
	for _, id := range ids {
		v.consider(id)
	}
}

func visitGlobs(v *evaluation, globs []globRule, path string) {
	for _, g := range globs {
		if g.glob.Match(path) {
			v.consider(g.id)
		}
	}
}

// visitPath offers every path rule that may match path: exact, basename,
// non-recursive directory containing it, recursive directory above it, the
// directory itself, and the globs filed under its ancestors.
func (ix *index) visitPath(v *evaluation, path string) {
	visitAll(v, ix.exact[path])
	visitGlobs(v, ix.rootless, path)
	slash := strings.LastIndexByte(path, '/')
	if slash < 0 {
		return
	}
	visitAll(v, ix.execName[path[slash+1:]])
	visitAll(v, ix.dirs[path[:slash]])
	for i := range len(path) {
		if path[i] == '/' {
			visitAll(v, ix.trees[path[:i]])
			visitGlobs(v, ix.globs[path[:i]], path)
		}
	}
	if self := strings.TrimSuffix(path, "/"); self != path[:slash] {
		visitAll(v, ix.dirs[self])
		visitAll(v, ix.trees[self])
	}
}

// inDir reports whether path is the directory dir ("/a/b/") itself or lies
// in it: directly, or at any depth when recursive.
func inDir(dir string, recursive bool, path string) bool {
	if path == "" {
		return false
	}
	if path == strings.TrimSuffix(dir, "/") || path == dir {
		return true
	}
	rest, ok := strings.CutPrefix(path, dir)
	return ok && (recursive || !strings.Contains(rest, "/"))
}
