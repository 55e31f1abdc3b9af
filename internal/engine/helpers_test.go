package engine

import "github.com/bulwark-security/bulwark/internal/policy"

// Rule builders for tests. Section names follow the loader's convention.

func rule(class policy.Class, m policy.Matcher, section string, a policy.Action) policy.Rule {
	return policy.Rule{Class: class, Matcher: m, Section: section, Action: a}
}

func procPath(path string, a policy.Action) policy.Rule {
	r := rule(policy.ClassProcess, policy.MatchPath, "process.matchPaths", a)
	r.Path = path
	return r
}

func procExecName(name string, a policy.Action) policy.Rule {
	r := rule(policy.ClassProcess, policy.MatchExecName, "process.matchPaths", a)
	r.ExecName = name
	return r
}

func procDir(dir string, recursive bool, a policy.Action) policy.Rule {
	r := rule(policy.ClassProcess, policy.MatchDirectory, "process.matchDirectories", a)
	r.Dir, r.Recursive = dir, recursive
	return r
}

func filePath(path string, a policy.Action) policy.Rule {
	r := rule(policy.ClassFile, policy.MatchPath, "file.matchPaths", a)
	r.Path = path
	return r
}

func fileDir(dir string, recursive bool, a policy.Action) policy.Rule {
	r := rule(policy.ClassFile, policy.MatchDirectory, "file.matchDirectories", a)
	r.Dir, r.Recursive = dir, recursive
	return r
}

func filePattern(pattern string, a policy.Action) policy.Rule {
	r := rule(policy.ClassFile, policy.MatchPattern, "file.matchPatterns", a)
	r.Pattern = pattern
	return r
}

func protocol(p string, a policy.Action) policy.Rule {
	r := rule(policy.ClassNetwork, policy.MatchProtocol, "network.matchProtocols", a)
	r.Protocol = p
	return r
}

func capability(c string, a policy.Action) policy.Rule {
	r := rule(policy.ClassCapabilities, policy.MatchCapability, "capabilities.matchCapabilities", a)
	r.Capability = c
	return r
}

func syscalls(names ...string) policy.Rule {
	r := rule(policy.ClassSyscalls, policy.MatchSyscall, "syscalls.matchSyscalls", policy.ActionAudit)
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
