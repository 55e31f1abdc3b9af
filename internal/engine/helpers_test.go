package engine

import "github.com/bulwark-security/bulwark/internal/policy"

// Rule builders for tests. Section names follow the loader's convention.

// rule builds a rule whose matcher reads target.
func rule(class policy.Class, m policy.Matcher, section string, a policy.Action, target string) policy.Rule {
	r := policy.Rule{Class: class, Matcher: m, Section: section, Action: a}
	field := map[policy.Matcher]*string{
		policy.MatchPath: &r.Path, policy.MatchExecName: &r.ExecName, policy.MatchDirectory: &r.Dir,
		policy.MatchPattern: &r.Pattern, policy.MatchProtocol: &r.Protocol, policy.MatchCapability: &r.Capability,
	}[m]
	if field != nil {
		*field = target
	}
	return r
}

// builder returns a constructor of rules of one class, matcher and section.
func builder(class policy.Class, m policy.Matcher, section string) func(string, policy.Action) policy.Rule {
	return func(target string, a policy.Action) policy.Rule { return rule(class, m, section, a, target) }
}

// dirBuilder is builder for directory rules, which also take Recursive.
func dirBuilder(class policy.Class, section string) func(string, bool, policy.Action) policy.Rule {
	build := builder(class, policy.MatchDirectory, section)
	return func(dir string, recursive bool, a policy.Action) policy.Rule {
		r := build(dir, a)
		r.Recursive = recursive
		return r
	}
}

var (
	procPath     = builder(policy.ClassProcess, policy.MatchPath, "process.matchPaths")
	procExecName = builder(policy.ClassProcess, policy.MatchExecName, "process.matchPaths")
	procDir      = dirBuilder(policy.ClassProcess, "process.matchDirectories")
	filePath     = builder(policy.ClassFile, policy.MatchPath, "file.matchPaths")
	fileDir      = dirBuilder(policy.ClassFile, "file.matchDirectories")
	filePattern  = builder(policy.ClassFile, policy.MatchPattern, "file.matchPatterns")
	protocol     = builder(policy.ClassNetwork, policy.MatchProtocol, "network.matchProtocols")
	capability   = builder(policy.ClassCapabilities, policy.MatchCapability, "capabilities.matchCapabilities")
)

func syscalls(names ...string) policy.Rule {
	r := rule(policy.ClassSyscalls, policy.MatchSyscall, "syscalls.matchSyscalls", policy.ActionAudit, "")
	r.Syscalls = names
	return r
}

// Rule modifiers.

func ownerOnly(r policy.Rule) policy.Rule { r.OwnerOnly = true; return r }
func readOnly(r policy.Rule) policy.Rule  { r.ReadOnly = true; return r }

func from(r policy.Rule, paths ...string) policy.Rule {
	for _, p := range paths {
		r.FromSource = append(r.FromSource, policy.Source{Path: p})
	}
	return r
}

func fromDir(r policy.Rule, dir string, recursive bool) policy.Rule {
	r.FromSource = append(r.FromSource, policy.Source{Dir: dir, Recursive: recursive})
	return r
}

func pts(r policy.Rule, v bool) policy.Rule { r.PTS = &v; return r }

func args(r policy.Rule, allowed ...string) policy.Rule { r.AllowedArgs = allowed; return r }

func at(r policy.Rule, i int) policy.Rule { r.Index = i; return r }

// ksp returns a KubeArmorPolicy in namespace "default" selecting app=web.
func ksp(name string, rules ...policy.Rule) *policy.Policy {
	return &policy.Policy{
		Kind: policy.KindPolicy, Name: name, Namespace: "default",
		Selector: policy.Selector{MatchLabels: map[string]string{"app": "web"}},
		Rules:    rules,
	}
}

// web is a container selected by ksp.
var web = Workload{Namespace: "default", Labels: map[string]string{"app": "web", "tier": "front"}, ContainerName: "nginx"}
