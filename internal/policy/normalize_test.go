package policy

import (
	"os"
	"reflect"
	"testing"
)

func TestNormalise(t *testing.T) {
	data, err := os.ReadFile("testdata/normalise.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := LoadBytes("normalise.yaml", data, Options{})
	if res.Errors() != 0 || len(res.Policies) != 1 {
		t.Fatalf("errors: %v", res.Diagnostics)
	}
	p := res.Policies[0]
	wantSel := Selector{MatchLabels: map[string]string{"app": "nginx"}, ContainerNames: []string{"nginx", "sidecar"}}
	if !reflect.DeepEqual(p.Selector, wantSel) {
		t.Errorf("selector = %+v, want %+v", p.Selector, wantSel)
	}
	tests := []struct {
		name string
		got  Rule
		want Rule
	}{
		{"section action lowercase is capitalised; spec severity and tags inherited",
			p.Rules[0], Rule{Class: ClassProcess, Matcher: MatchPath, Section: "process.matchPaths", Index: 0,
				Path: "/usr/bin/apt", Action: ActionAudit, Severity: 5, Tags: []string{"spec"}}},
		{"rule severity wins over spec severity",
			p.Rules[1], Rule{Class: ClassProcess, Matcher: MatchExecName, Section: "process.matchPaths", Index: 1,
				ExecName: "curl", Action: ActionAudit, Severity: 9, Tags: []string{"spec"}}},
		{"spec action inherited by a section without one",
			p.Rules[2], Rule{Class: ClassFile, Matcher: MatchDirectory, Section: "file.matchDirectories",
				Dir: "/etc/", Recursive: true, ReadOnly: true, Action: ActionBlock, Severity: 5, Tags: []string{"spec"}}},
		{"protocol comma list expanded and lowercased (1)",
			p.Rules[3], Rule{Class: ClassNetwork, Matcher: MatchProtocol, Section: "network.matchProtocols",
				Protocol: "tcp", Action: ActionAllow, Severity: 5, Tags: []string{"spec"}}},
		{"protocol comma list expanded and lowercased (2)",
			p.Rules[4], Rule{Class: ClassNetwork, Matcher: MatchProtocol, Section: "network.matchProtocols",
				Protocol: "udp", Action: ActionAllow, Severity: 5, Tags: []string{"spec"}}},
		{"capability cap_ prefix stripped",
			p.Rules[5], Rule{Class: ClassCapabilities, Matcher: MatchCapability, Section: "capabilities.matchCapabilities",
				Capability: "net_raw", Action: ActionBlock, Severity: 5, Tags: []string{"spec"}}},
		{"capability comma list expanded",
			p.Rules[6], Rule{Class: ClassCapabilities, Matcher: MatchCapability, Section: "capabilities.matchCapabilities",
				Capability: "sys_admin", Action: ActionBlock, Severity: 5, Tags: []string{"spec"}}},
		{"syscall rules forced to Audit and inherit message",
			p.Rules[7], Rule{Class: ClassSyscalls, Matcher: MatchSyscall, Section: "syscalls.matchSyscalls",
				Syscalls: []string{"unlink"}, FromSource: []Source{{Dir: "/usr/bin/", Recursive: true}},
				Action: ActionAudit, Severity: 5, Tags: []string{"spec"}, Message: "syscalls"}},
	}
	if len(p.Rules) != len(tests) {
		t.Fatalf("%d rules, want %d: %+v", len(p.Rules), len(tests), p.Rules)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.Location.Line == 0 {
				t.Errorf("rule has no location")
			}
			tt.got.Location = Location{}
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	const doc = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata: {name: h}
spec:
  nodeSelector: {matchLabels: {kubearmor.io/hostname: "*"}}
  network:
    matchDNSQueries: [{domain: ".Example.COM.,b.org", fromSource: [{path: /bin/x}]}]
  device: {matchDevice: [{class: MASS-STORAGE, level: 1}]}
`
	res := LoadBytes("h.yaml", []byte(doc), Options{})
	if res.Errors() != 0 {
		t.Fatal(res.Diagnostics)
	}
	p := res.Policies[0]
	if p.Selector.NodeLabels[LabelHostname] != "*" {
		t.Errorf("node labels = %v", p.Selector.NodeLabels)
	}
	if len(p.Rules) != 3 || p.Rules[0].Domain != "example.com" || p.Rules[1].Domain != "b.org" {
		t.Fatalf("rules = %+v", p.Rules)
	}
	if p.Rules[0].Action != ActionBlock || p.Rules[2].Device.Class != "MASS-STORAGE" || *p.Rules[2].Device.Level != 1 {
		t.Errorf("rules = %+v", p.Rules)
	}
}
