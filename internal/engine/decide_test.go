package engine

import (
	"fmt"
	"testing"

	"github.com/bulwark-security/bulwark/internal/policy"
)

const (
	allow = policy.ActionAllow
	audit = policy.ActionAudit
	block = policy.ActionBlock
)

type decideCase struct {
	name     string
	policies []*policy.Policy
	workload func(*Workload) // adjusts web; nil keeps it
	op       Operation
	// want is the expected action and source; rule is "section[index]" of
	// the deciding rule ("" when none) and from the matched fromSource.
	want   Action
	source DecisionSource
	rule   string
	from   string
}

func exec(path, parent string) Operation {
	return Operation{Kind: OpProcess, Path: path, Source: parent}
}

func open(path string, write bool) Operation {
	return Operation{Kind: OpFile, Path: path, Write: write, Source: "/usr/bin/cat"}
}

func postures(file, network, caps Posture) func(*Workload) {
	return func(w *Workload) { w.Postures = Postures{File: file, Network: network, Capabilities: caps} }
}

var blockAll = postures(PostureBlock, PostureBlock, PostureBlock)

func runDecideCases(t *testing.T, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := web
			if tc.workload != nil {
				tc.workload(&w)
			}
			d := Compile(tc.policies, w).Decide(tc.op)
			if d.Action != tc.want || d.Source != tc.source {
				t.Fatalf("got %s/%s, want %s/%s (reason: %s)", d.Action, d.Source, tc.want, tc.source, d.Reason)
			}
			var rule string
			if d.Rule != nil {
				rule = fmt.Sprintf("%s[%d]", d.Rule.Section, d.Rule.Index)
			}
			if rule != tc.rule || d.FromSource != tc.from {
				t.Errorf("rule %q fromSource %q, want %q %q (reason: %s)", rule, d.FromSource, tc.rule, tc.from, d.Reason)
			}
			if d.Source == SourceDefaultPosture && d.PolicyName != DefaultPosturePolicyName {
				t.Errorf("posture decision has policy name %q", d.PolicyName)
			}
			if d.Alert != (d.Action != ActionAllow && d.Action != ActionAuditAllow) {
				t.Errorf("Alert = %v for %s", d.Alert, d.Action)
			}
			if d.Reason == "" {
				t.Error("empty reason")
			}
		})
	}
}

func TestDecideTargets(t *testing.T) {
	p := ksp("targets",
		procPath("/usr/bin/apt", block),
		procExecName("nc", block),
		procDir("/tmp/", false, block),
		procDir("/opt/", true, block),
		filePattern("/etc/*.conf", block),
		fileDir("/", false, block),
	)
	pp := []*policy.Policy{p}
	runDecideCases(t, []decideCase{
		{name: "no rule speaks about an operation", policies: pp, op: exec("/bin/ls", "/bin/sh"), want: ActionAllow, source: SourceNone},
		{name: "an exact path matches", policies: pp, op: exec("/usr/bin/apt", "/bin/sh"), want: ActionBlock, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "an exact path does not match a longer path", policies: pp, op: exec("/usr/bin/apt-get", "/bin/sh"), want: ActionAllow, source: SourceNone},
		{name: "execname matches the basename anywhere", policies: pp, op: exec("/usr/local/bin/nc", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "execname is not a suffix match", policies: pp, op: exec("/usr/bin/ncat", ""), want: ActionAllow, source: SourceNone},
		{name: "a directory matches its files", policies: pp, op: exec("/tmp/x", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchDirectories[0]"},
		{name: "a non-recursive directory skips subdirectories", policies: pp, op: exec("/tmp/a/x", ""), want: ActionAllow, source: SourceNone},
		{name: "a recursive directory matches at any depth", policies: pp, op: exec("/opt/a/b/c", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchDirectories[0]"},
		{name: "a recursive directory does not match a sibling prefix", policies: pp, op: exec("/optx/a", ""), want: ActionAllow, source: SourceNone},
		{name: "a pattern matches", policies: pp, op: open("/etc/nginx.conf", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchPatterns[0]"},
		{name: "a pattern star stops at a slash", policies: pp, op: open("/etc/nginx/x.conf", false), want: ActionAllow, source: SourceNone},
		{name: "the root directory matches files directly in it", policies: pp, op: open("/vmlinuz", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchDirectories[0]"},
		{name: "process rules do not match file operations", policies: pp, op: open("/usr/bin/apt", false), want: ActionAllow, source: SourceNone},
		{name: "a directory matches itself", policies: []*policy.Policy{ksp("d", fileDir("/var/log/", false, block))}, op: open("/var/log", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchDirectories[0]"},
		{name: "a directory matches itself with a slash", policies: []*policy.Policy{ksp("d", fileDir("/var/log/", true, block))}, op: open("/var/log/", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchDirectories[0]"},
	})
}

func TestDecideAllowList(t *testing.T) {
	allowLs := ksp("allow-ls", procPath("/bin/ls", allow))
	runDecideCases(t, []decideCase{
		{name: "an allowed exec is a silent policy allow", policies: []*policy.Policy{allowLs}, workload: blockAll, op: exec("/bin/ls", ""), want: ActionAllow, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "anything else gets the block posture", policies: []*policy.Policy{allowLs}, workload: blockAll, op: exec("/bin/cat", ""), want: ActionBlock, source: SourceDefaultPosture},
		{name: "anything else gets the audit posture", policies: []*policy.Policy{allowLs}, op: exec("/bin/cat", ""), want: ActionAudit, source: SourceDefaultPosture},
		{name: "process and file rules share one class", policies: []*policy.Policy{allowLs}, workload: blockAll, op: open("/etc/passwd", false), want: ActionBlock, source: SourceDefaultPosture},
		{name: "another class is not in allow-list mode", policies: []*policy.Policy{allowLs}, workload: blockAll, op: Operation{Kind: OpNetwork, Protocol: "tcp"}, want: ActionAllow, source: SourceNone},
		{name: "Block rules still deny in allow-list mode", policies: []*policy.Policy{allowLs, ksp("block", filePath("/etc/shadow", block))}, op: open("/etc/shadow", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchPaths[0]"},
		{name: "Block beats an earlier Allow on the same target", policies: []*policy.Policy{ksp("p", procPath("/bin/ls", allow), at(procPath("/bin/ls", block), 1))}, op: exec("/bin/ls", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchPaths[1]"},
		{name: "Block beats a later Allow on the same target", policies: []*policy.Policy{ksp("p", procPath("/bin/ls", block), at(procPath("/bin/ls", allow), 1))}, op: exec("/bin/ls", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "Block on a directory beats Allow on a path", policies: []*policy.Policy{ksp("p", procPath("/bin/ls", allow), procDir("/bin/", false, block))}, op: exec("/bin/ls", ""), want: ActionBlock, source: SourcePolicy, rule: "process.matchDirectories[0]"},
		{name: "an Audit rule on an allowed target audits", policies: []*policy.Policy{allowLs, ksp("audit", procPath("/bin/ls", audit))}, workload: blockAll, op: exec("/bin/ls", ""), want: ActionAudit, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "an Audit rule on an unallowed target with audit posture audits from the policy", policies: []*policy.Policy{allowLs, ksp("audit", procPath("/bin/cat", audit))}, op: exec("/bin/cat", ""), want: ActionAudit, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "an Audit rule on an unallowed target with block posture is blocked", policies: []*policy.Policy{allowLs, ksp("audit", procPath("/bin/cat", audit))}, workload: blockAll, op: exec("/bin/cat", ""), want: ActionBlock, source: SourceDefaultPosture},
		{name: "namespace annotations set the posture", policies: []*policy.Policy{allowLs}, workload: func(w *Workload) {
			w.NamespaceAnnotations = map[string]string{AnnotationFilePosture: "Block"}
		}, op: exec("/bin/cat", ""), want: ActionBlock, source: SourceDefaultPosture},
		{name: "network allow-list blocks other protocols", policies: []*policy.Policy{ksp("n", protocol("udp", allow))}, workload: blockAll, op: Operation{Kind: OpNetwork, Protocol: "tcp", SocketType: "stream"}, want: ActionBlock, source: SourceDefaultPosture},
		{name: "capability allow-list audits other capabilities", policies: []*policy.Policy{ksp("c", capability("chown", allow))}, op: Operation{Kind: OpCapabilities, Capability: "net_raw"}, want: ActionAudit, source: SourceDefaultPosture},
	})
}

func TestDecideAuditAndBlock(t *testing.T) {
	runDecideCases(t, []decideCase{
		{name: "an Audit rule alone audits", policies: []*policy.Policy{ksp("a", filePath("/etc/passwd", audit))}, op: open("/etc/passwd", false), want: ActionAudit, source: SourcePolicy, rule: "file.matchPaths[0]"},
		{name: "Block beats Audit", policies: []*policy.Policy{ksp("a", filePath("/etc/passwd", audit), at(filePattern("/etc/*", block), 1))}, op: open("/etc/passwd", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchPatterns[1]"},
		{name: "Audit beats Allow outside allow-list mode too", policies: []*policy.Policy{ksp("a", filePath("/etc/passwd", allow), at(filePath("/etc/passwd", audit), 1))}, op: open("/etc/passwd", false), want: ActionAudit, source: SourcePolicy, rule: "file.matchPaths[1]"},
		{name: "Audit+readOnly reports writes", policies: []*policy.Policy{ksp("a", readOnly(fileDir("/etc/", true, audit)))}, op: open("/etc/ssl/x", true), want: ActionAudit, source: SourcePolicy, rule: "file.matchDirectories[0]"},
		{name: "Audit+readOnly ignores reads", policies: []*policy.Policy{ksp("a", readOnly(fileDir("/etc/", true, audit)))}, op: open("/etc/ssl/x", false), want: ActionAllow, source: SourceNone},
		{name: "the first policy by name is named when several deny", policies: []*policy.Policy{ksp("b", filePath("/x", block)), ksp("a", at(filePath("/x", block), 7))}, op: open("/x", false), want: ActionBlock, source: SourcePolicy, rule: "file.matchPaths[7]"},
	})
}

func TestDecideFromSource(t *testing.T) {
	blockSleep := ksp("s", from(procPath("/bin/sleep", block), "/bin/bash"))
	allowSleep := ksp("s", from(procPath("/bin/sleep", allow), "/bin/bash"))
	token := "/run/secrets/token"
	runDecideCases(t, []decideCase{
		{name: "a process rule matches the parent executable", policies: []*policy.Policy{blockSleep}, op: exec("/bin/sleep", "/bin/bash"), want: ActionBlock, source: SourcePolicy, rule: "process.matchPaths[0]", from: "/bin/bash"},
		{name: "a process rule ignores other parents", policies: []*policy.Policy{blockSleep}, op: exec("/bin/sleep", "/bin/zsh"), want: ActionAllow, source: SourceNone},
		{name: "a fromSource rule never matches an unknown source", policies: []*policy.Policy{blockSleep}, op: exec("/bin/sleep", ""), want: ActionAllow, source: SourceNone},
		{name: "an Allow with fromSource allows that source", policies: []*policy.Policy{allowSleep}, workload: blockAll, op: exec("/bin/sleep", "/bin/bash"), want: ActionAllow, source: SourcePolicy, rule: "process.matchPaths[0]", from: "/bin/bash"},
		{name: "an Allow with fromSource leaves other sources to the posture", policies: []*policy.Policy{allowSleep}, workload: blockAll, op: exec("/bin/sleep", "/bin/zsh"), want: ActionBlock, source: SourceDefaultPosture},
		{name: "a file rule matches the process's own executable", policies: []*policy.Policy{ksp("t", from(readOnly(filePath(token, allow)), "/usr/bin/cat"))}, workload: blockAll, op: open(token, false), want: ActionAllow, source: SourcePolicy, rule: "file.matchPaths[0]", from: "/usr/bin/cat"},
		{name: "a file rule with another source falls to the posture", policies: []*policy.Policy{ksp("t", from(readOnly(filePath(token, allow)), "/bin/curl"))}, workload: blockAll, op: open(token, false), want: ActionBlock, source: SourceDefaultPosture},
		{name: "a network rule matches its source", policies: []*policy.Policy{ksp("n", from(protocol("tcp", allow), "/usr/bin/curl"))}, workload: blockAll, op: Operation{Kind: OpNetwork, Protocol: "tcp", Source: "/usr/bin/wget"}, want: ActionBlock, source: SourceDefaultPosture},
	})
}

func TestDecideOwnerOnlyReadOnly(t *testing.T) {
	const path = "/home/user/secret"
	const owner, other = 1000, 2000
	op := func(uid uint32, write, known bool) Operation {
		return Operation{Kind: OpFile, Path: path, UID: uid, Owner: owner, OwnerKnown: known, Write: write, Source: "/bin/cat"}
	}
	one := func(r policy.Rule) []*policy.Policy { return []*policy.Policy{ksp("p", r)} }
	const rule = "file.matchPaths[0]"
	runDecideCases(t, []decideCase{
		// Block, the left column of the readOnly/ownerOnly table.
		{name: "Block+ownerOnly lets the owner pass", policies: one(ownerOnly(filePath(path, block))), op: op(owner, true, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Block+ownerOnly denies others", policies: one(ownerOnly(filePath(path, block))), op: op(other, false, true), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "Block+ownerOnly denies when the owner is unknown", policies: one(ownerOnly(filePath(path, block))), op: op(owner, false, false), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "Block+readOnly lets reads pass", policies: one(readOnly(filePath(path, block))), op: op(other, false, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Block+readOnly denies writes", policies: one(readOnly(filePath(path, block))), op: op(other, true, true), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "Block+readOnly+ownerOnly lets the owner read", policies: one(ownerOnly(readOnly(filePath(path, block)))), op: op(owner, false, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Block+readOnly+ownerOnly denies the owner's writes", policies: one(ownerOnly(readOnly(filePath(path, block)))), op: op(owner, true, true), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "Block+readOnly+ownerOnly denies others' reads", policies: one(ownerOnly(readOnly(filePath(path, block)))), op: op(other, false, true), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "a Block exemption counts as permission in allow-list mode", policies: []*policy.Policy{ksp("p", readOnly(filePath(path, block)), at(filePath("/x", allow), 1))}, workload: blockAll, op: op(other, false, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		// Allow, the right column.
		{name: "Allow+ownerOnly allows the owner", policies: one(ownerOnly(filePath(path, allow))), workload: blockAll, op: op(owner, true, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Allow+ownerOnly leaves others to the posture", policies: one(ownerOnly(filePath(path, allow))), workload: blockAll, op: op(other, false, true), want: ActionBlock, source: SourceDefaultPosture},
		{name: "Allow+readOnly allows reads", policies: one(readOnly(filePath(path, allow))), workload: blockAll, op: op(other, false, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Allow+readOnly leaves writes to the posture", policies: one(readOnly(filePath(path, allow))), workload: blockAll, op: op(other, true, true), want: ActionBlock, source: SourceDefaultPosture},
		{name: "Allow+readOnly+ownerOnly allows the owner to read", policies: one(ownerOnly(readOnly(filePath(path, allow)))), workload: blockAll, op: op(owner, false, true), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Allow+readOnly+ownerOnly leaves the owner's writes to the posture", policies: one(ownerOnly(readOnly(filePath(path, allow)))), workload: blockAll, op: op(owner, true, true), want: ActionBlock, source: SourceDefaultPosture},
		{name: "Allow+readOnly+ownerOnly leaves others to the posture", policies: one(ownerOnly(readOnly(filePath(path, allow)))), workload: blockAll, op: op(other, false, true), want: ActionBlock, source: SourceDefaultPosture},
		{name: "process ownerOnly compares the executable's owner", policies: []*policy.Policy{ksp("p", ownerOnly(procDir("/home/", true, block)))}, op: Operation{Kind: OpProcess, Path: "/home/u/run", UID: 5, Owner: 5, OwnerKnown: true}, want: ActionAllow, source: SourcePolicy, rule: "process.matchDirectories[0]"},
	})
}

func TestDecidePTSAndArgs(t *testing.T) {
	tty := func(on bool) Operation { o := exec("/bin/sleep", "/bin/bash"); o.TTY = on; return o }
	ls := func(a ...string) Operation { o := exec("/bin/ls", "/bin/sh"); o.Args = a; return o }
	allowLs := []*policy.Policy{ksp("p", args(procPath("/bin/ls", allow), "-l", "-a"))}
	blockLs := []*policy.Policy{ksp("p", args(procPath("/bin/ls", block), "-l"))}
	const rule = "process.matchPaths[0]"
	runDecideCases(t, []decideCase{
		{name: "pts true applies with a terminal", policies: []*policy.Policy{ksp("p", pts(procPath("/bin/sleep", block), true))}, op: tty(true), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "pts true does not apply without a terminal", policies: []*policy.Policy{ksp("p", pts(procPath("/bin/sleep", block), true))}, op: tty(false), want: ActionAllow, source: SourceNone},
		{name: "pts false places no terminal condition", policies: []*policy.Policy{ksp("p", pts(procPath("/bin/sleep", block), false))}, op: tty(false), want: ActionBlock, source: SourcePolicy, rule: rule},
		{name: "allowedArgs allows listed arguments", policies: allowLs, workload: blockAll, op: ls("-l", "-a"), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "allowedArgs allows no arguments", policies: allowLs, workload: blockAll, op: ls(), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "allowedArgs leaves other arguments to the posture", policies: allowLs, workload: blockAll, op: ls("-l", "/etc"), want: ActionBlock, source: SourceDefaultPosture},
		{name: "Block+allowedArgs lets listed arguments pass", policies: blockLs, op: ls("-l"), want: ActionAllow, source: SourcePolicy, rule: rule},
		{name: "Block+allowedArgs denies other arguments", policies: blockLs, op: ls("-R"), want: ActionBlock, source: SourcePolicy, rule: rule},
	})
}

func TestDecideNetworkCapabilitiesSyscalls(t *testing.T) {
	netp := []*policy.Policy{ksp("n", protocol("tcp", block), at(protocol("raw", block), 1))}
	allp := []*policy.Policy{ksp("n", protocol("all", block))}
	capp := []*policy.Policy{ksp("c", capability("net_raw", block))}
	sysp := []*policy.Policy{ksp("s",
		syscalls("unlink", "rmdir"),
		policy.Rule{Class: policy.ClassSyscalls, Matcher: policy.MatchPath, Section: "syscalls.matchPaths", Index: 1, Action: audit, Syscalls: []string{"chown"}, Path: "/etc/passwd"},
		policy.Rule{Class: policy.ClassSyscalls, Matcher: policy.MatchDirectory, Section: "syscalls.matchPaths", Index: 2, Action: audit, Syscalls: []string{"mount"}, Dir: "/mnt/", Recursive: true},
		fromDir(at(syscalls("ptrace"), 3), "/usr/bin/", false),
	)}
	sys := func(name, path, source string) Operation {
		return Operation{Kind: OpSyscall, Syscall: name, Path: path, Source: source}
	}
	runDecideCases(t, []decideCase{
		{name: "a protocol rule matches in any case", policies: netp, op: Operation{Kind: OpNetwork, Protocol: "TCP"}, want: ActionBlock, source: SourcePolicy, rule: "network.matchProtocols[0]"},
		{name: "a protocol rule matches the socket type", policies: netp, op: Operation{Kind: OpNetwork, Protocol: "icmp", SocketType: "raw"}, want: ActionBlock, source: SourcePolicy, rule: "network.matchProtocols[1]"},
		{name: "a protocol rule ignores other protocols", policies: netp, op: Operation{Kind: OpNetwork, Protocol: "udp", SocketType: "dgram"}, want: ActionAllow, source: SourceNone},
		{name: "protocol all matches everything", policies: allp, op: Operation{Kind: OpNetwork, SocketType: "seqpacket"}, want: ActionBlock, source: SourcePolicy, rule: "network.matchProtocols[0]"},
		{name: "a capability matches its CAP_ name", policies: capp, op: Operation{Kind: OpCapabilities, Capability: "CAP_NET_RAW"}, want: ActionBlock, source: SourcePolicy, rule: "capabilities.matchCapabilities[0]"},
		{name: "a capability matches its short name", policies: capp, op: Operation{Kind: OpCapabilities, Capability: "net_raw"}, want: ActionBlock, source: SourcePolicy, rule: "capabilities.matchCapabilities[0]"},
		{name: "a capability ignores other capabilities", policies: capp, op: Operation{Kind: OpCapabilities, Capability: "sys_admin"}, want: ActionAllow, source: SourceNone},
		{name: "a syscall rule audits its syscalls", policies: sysp, op: sys("rmdir", "/tmp/x", ""), want: ActionAudit, source: SourcePolicy, rule: "syscalls.matchSyscalls[0]"},
		{name: "a syscall rule ignores other syscalls", policies: sysp, op: sys("openat", "", ""), want: ActionAllow, source: SourceNone},
		{name: "a syscall path rule matches its target", policies: sysp, op: sys("chown", "/etc/passwd", ""), want: ActionAudit, source: SourcePolicy, rule: "syscalls.matchPaths[1]"},
		{name: "a syscall path rule ignores other targets", policies: sysp, op: sys("chown", "/etc/shadow", ""), want: ActionAllow, source: SourceNone},
		{name: "a syscall directory rule matches below it", policies: sysp, op: sys("mount", "/mnt/a/b", ""), want: ActionAudit, source: SourcePolicy, rule: "syscalls.matchPaths[2]"},
		{name: "a syscall fromSource directory matches its executables", policies: sysp, op: sys("ptrace", "", "/usr/bin/gdb"), want: ActionAudit, source: SourcePolicy, rule: "syscalls.matchSyscalls[3]", from: "/usr/bin/"},
		{name: "a non-recursive fromSource directory skips subdirectories", policies: sysp, op: sys("ptrace", "", "/usr/bin/x/gdb"), want: ActionAllow, source: SourceNone},
		{name: "syscalls have no default posture", policies: append(sysp, ksp("a", procPath("/bin/ls", allow))), workload: blockAll, op: sys("openat", "", ""), want: ActionAllow, source: SourceNone},
		{name: "an unknown operation kind is allowed", policies: sysp, op: Operation{Kind: "dns"}, want: ActionAllow, source: SourceNone},
	})
}

func TestDecidePolicyModes(t *testing.T) {
	pp := []*policy.Policy{ksp("p", procPath("/bin/ls", allow), at(procPath("/bin/rm", block), 1), at(procPath("/bin/cat", audit), 2))}
	audited := func(w *Workload) { blockAll(w); w.PolicyMode = PolicyAudited }
	disabled := func(w *Workload) { blockAll(w); w.PolicyMode = PolicyDisabled }
	runDecideCases(t, []decideCase{
		{name: "audited reports a Block rule as Audit (Block)", policies: pp, workload: audited, op: exec("/bin/rm", ""), want: ActionAuditBlock, source: SourcePolicy, rule: "process.matchPaths[1]"},
		{name: "audited reports a block posture miss as Audit (Block)", policies: pp, workload: audited, op: exec("/bin/vi", ""), want: ActionAuditBlock, source: SourceDefaultPosture},
		{name: "audited marks an Allow hit Audit (Allow), silently", policies: pp, workload: audited, op: exec("/bin/ls", ""), want: ActionAuditAllow, source: SourcePolicy, rule: "process.matchPaths[0]"},
		{name: "audited keeps Audit", policies: pp, workload: func(w *Workload) { w.PolicyMode = PolicyAudited }, op: exec("/bin/cat", ""), want: ActionAudit, source: SourcePolicy, rule: "process.matchPaths[2]"},
		{name: "audited reports a block posture miss over an Audit rule", policies: pp, workload: audited, op: exec("/bin/cat", ""), want: ActionAuditBlock, source: SourceDefaultPosture},
		{name: "audited leaves unmatched operations alone", policies: pp, workload: audited, op: Operation{Kind: OpNetwork, Protocol: "tcp"}, want: ActionAllow, source: SourceNone},
		{name: "disabled enforces nothing", policies: pp, workload: disabled, op: exec("/bin/rm", ""), want: ActionAllow, source: SourceNone},
	})
}

func TestDecideDoesNotAllocate(t *testing.T) {
	rs := Compile([]*policy.Policy{ksp("p",
		procPath("/bin/ls", allow), procDir("/usr/", true, block), filePattern("/etc/**", audit),
		capability("net_raw", block), protocol("tcp", allow),
	)}, web)
	ops := []Operation{
		exec("/usr/local/bin/x", "/bin/sh"), open("/etc/ssl/x", true), exec("/bin/ls", ""),
		{Kind: OpCapabilities, Capability: "net_raw"}, {Kind: OpNetwork, Protocol: "tcp", SocketType: "stream"},
	}
	for _, op := range ops {
		if n := testing.AllocsPerRun(100, func() { rs.Decide(op) }); n != 0 {
			t.Errorf("Decide(%+v): %v allocs", op, n)
		}
	}
}
