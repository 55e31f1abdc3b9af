package engine

import (
	"fmt"
	"testing"

	"github.com/bulwark-security/bulwark/internal/policy"
)

// syntheticPolicies returns n rules spread over policies of 100 rules: a
// mix of exact paths, execnames, directories, patterns, protocols and
// capabilities with Block, Audit and Allow actions.
func syntheticPolicies(n int) []*policy.Policy {
	protocols := []string{"tcp", "udp", "icmp", "raw", "sctp"}
	caps := []string{"net_raw", "sys_admin", "chown", "setuid", "sys_ptrace"}
	actions := []policy.Action{block, block, audit, allow}
	var out []*policy.Policy
	for i := range n {
		if i%100 == 0 {
			out = append(out, ksp(fmt.Sprintf("synthetic-%03d", i/100)))
		}
		var r policy.Rule
		a := actions[i%len(actions)]
		switch i % 10 {
		case 0, 1:
			r = procPath(fmt.Sprintf("/usr/bin/tool%d", i), a)
		case 2, 3:
			r = filePath(fmt.Sprintf("/data/app%d/config", i), a)
		case 4:
			r = fileDir(fmt.Sprintf("/opt/pkg%d/", i), true, a)
		case 5:
			r = procDir(fmt.Sprintf("/srv/bin%d/", i), false, a)
		case 6:
			r = filePattern(fmt.Sprintf("/srv/site%d/**/*.log", i), a)
		case 7:
			r = procExecName(fmt.Sprintf("tool%d", i), a)
		case 8:
			r = protocol(protocols[i%len(protocols)], a)
		default:
			r = capability(caps[i%len(caps)], a)
		}
		r.Index = i % 100
		p := out[len(out)-1]
		p.Rules = append(p.Rules, r)
	}
	return out
}

func syntheticOps() []Operation {
	return []Operation{
		exec("/usr/bin/tool10", "/bin/sh"),
		exec("/usr/local/bin/tool17", "/bin/sh"),
		exec("/bin/ls", "/bin/sh"),
		exec("/srv/bin15/run", "/bin/sh"),
		open("/data/app12/config", false),
		open("/opt/pkg14/lib/deep/a/b/c.so", false),
		open("/srv/site16/2024/01/access.log", true),
		open("/etc/hosts", false),
		{Kind: OpNetwork, Protocol: "tcp", SocketType: "stream"},
		{Kind: OpCapabilities, Capability: "CAP_SYS_ADMIN"},
	}
}

func BenchmarkCompile10kRules(b *testing.B) {
	policies := syntheticPolicies(10_000)
	b.ReportAllocs()
	for b.Loop() {
		Compile(policies, web)
	}
}

func BenchmarkDecide1kRules(b *testing.B)  { benchmarkDecide(b, 1_000) }
func BenchmarkDecide10kRules(b *testing.B) { benchmarkDecide(b, 10_000) }

func benchmarkDecide(b *testing.B, rules int) {
	rs := Compile(syntheticPolicies(rules), web)
	ops := syntheticOps()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rs.Decide(ops[i%len(ops)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}
