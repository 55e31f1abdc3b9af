package policy

import (
	"fmt"
	"strings"
	"testing"
)

const header = "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata: {name: p}\nspec:\n"

func TestDiagnostics(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		lenient bool
		want    string // Diagnostic.String() of the first diagnostic
		sev     Severity
	}{
		{"duplicate key is an error", header + "  action: Block\n  action: Allow\n", false,
			"t.yaml:6:3: spec.action: error: duplicate key \"action\" (first at line 5); the last value wins and the earlier one is silently dropped", SeverityError},
		{"duplicate key is a warning when lenient", header + "  action: Block\n  action: Allow\n", true,
			"t.yaml:6:3: spec.action: warning: duplicate key \"action\" (first at line 5); the last value wins and the earlier one is silently dropped", SeverityWarning},
		{"unknown field", header + "  file: {matchPaths: [{path: /a, recurive: true}]}\n", false,
			"t.yaml:5:34: spec.file.matchPaths[0].recurive: error: unknown field \"recurive\"", SeverityError},
		{"path pattern", header + "  file: {matchPaths: [{path: /etc/}]}\n", true,
			"t.yaml:5:30: spec.file.matchPaths[0].path: error: \"/etc/\" does not match the pattern ^\\/+.*[^\\/]$ (an absolute path without a trailing slash)", SeverityError},
		{"dir without trailing slash", header + "  file: {matchDirectories: [{dir: /etc}]}\n", false,
			"t.yaml:5:35: spec.file.matchDirectories[0].dir: error: \"/etc\" does not match the pattern ^\\/$|^\\/.*\\/$ (an absolute directory ending in a slash)", SeverityError},
		{"execname with slash", header + "  process: {matchPaths: [{execname: a/b}]}\n", false,
			"t.yaml:5:37: spec.process.matchPaths[0].execname: error: \"a/b\" does not match the pattern ^[^\\/]+$ (a file name without slashes)", SeverityError},
		{"neither path nor execname", header + "  process: {matchPaths: [{ownerOnly: true}]}\n", false,
			"t.yaml:5:26: spec.process.matchPaths[0]: error: one of path or execname is required", SeverityError},
		{"both path and execname, lenient", header + "  process: {matchPaths: [{path: /a, execname: a}]}\n", true,
			"t.yaml:5:26: spec.process.matchPaths[0]: warning: set either path or execname, not both", SeverityWarning},
		{"severity range", header + "  severity: 11\n", false,
			"t.yaml:5:13: spec.severity: error: 11 is out of range [1, 10]", SeverityError},
		{"action enum", header + "  action: Deny\n", true,
			"t.yaml:5:11: spec.action: error: \"Deny\" is not one of Allow, Audit, Block", SeverityError},
		{"lowercase action", header + "  action: block\n", false,
			"t.yaml:5:11: spec.action: warning: \"block\" is read as \"Block\", but the Kubernetes CRD only accepts Allow, Audit, Block", SeverityWarning},
		{"unknown protocol", header + "  network: {matchProtocols: [{protocol: xtcp}]}\n", false,
			"t.yaml:5:41: spec.network.matchProtocols[0].protocol: error: \"xtcp\" is not a valid item", SeverityError},
		{"capability pattern", header + "  capabilities: {matchCapabilities: [{capability: NET_RAW}]}\n", false,
			"t.yaml:5:51: spec.capabilities.matchCapabilities[0].capability: error: \"NET_RAW\" does not match the pattern " +
				strings.Split(capabilityPattern(t), "\n")[0], SeverityError},
		{"expression key", header + "  selector: {matchExpressions: [{key: namespace, operator: In, values: [a]}]}\n", false,
			"t.yaml:5:39: spec.selector.matchExpressions[0].key: error: \"namespace\" is not one of label", SeverityError},
		{"allowedArgs max items", header + "  process: {matchPaths: [{path: /a, allowedArgs: [" + strings.Repeat("x,", 20) + "x]}]}\n", false,
			"t.yaml:5:50: spec.process.matchPaths[0].allowedArgs: error: has 21 items, more than the maximum of 20", SeverityError},
		{"malformed pattern", header + "  file: {matchPatterns: [{pattern: '/etc/{a,b'}]}\n", false,
			"t.yaml:5:36: spec.file.matchPatterns[0].pattern: error: malformed pattern: pathglob: unclosed '{' at offset 5 in \"/etc/{a,b\"", SeverityError},
		{"syscall dir needs slash", header + "  syscalls: {matchSyscalls: [{syscall: [unlink], fromSource: [{dir: /bin}]}]}\n", true,
			"t.yaml:5:69: spec.syscalls.matchSyscalls[0].fromSource[0].dir: warning: dir \"/bin\" must end with a slash", SeverityWarning},
		{"type mismatch", header + "  tags: web\n", false,
			"t.yaml:5:9: spec.tags: error: must be an array, not \"web\" (a string)", SeverityError},
		{"host policy requires nodeSelector", strings.Replace(header, "KubeArmorPolicy", "KubeArmorHostPolicy", 1) + "  action: Block\n", true,
			"t.yaml:5:3: spec.nodeSelector: error: required field \"nodeSelector\" is missing", SeverityError},
		{"host network rule requires fromSource",
			strings.Replace(header, "KubeArmorPolicy", "KubeArmorHostPolicy", 1) + "  nodeSelector: {matchLabels: {a: b}}\n  network: {matchProtocols: [{protocol: tcp}]}\n", true,
			"t.yaml:6:30: spec.network.matchProtocols[0].fromSource: error: required field \"fromSource\" is missing", SeverityError},
		{"network policy port", "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorNetworkPolicy\nmetadata: {name: n}\nspec:\n  nodeSelector: {matchLabels: {a: b}}\n  egress: [{ports: [{port: \"70000\", protocol: TCP}]}]\n", false,
			"t.yaml:6:28: spec.egress[0].ports[0].port: error: port \"70000\" must be 1-65535 or one of http, https, ssh, dns", SeverityError},
		{"network policy level", "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorNetworkPolicy\nmetadata: {name: n}\nspec:\n  nodeSelector: {matchLabels: {a: b}}\n  level: Node\n", false,
			"t.yaml:6:10: spec.level: error: \"Node\" is not one of Pod, Policy, pod, policy", SeverityError},
		{"wrong apiVersion", "apiVersion: security.kubearmor.com/v2\nkind: KubeArmorPolicy\n", true,
			"t.yaml:1:13: apiVersion: error: apiVersion is \"security.kubearmor.com/v2\", want \"security.kubearmor.com/v1\"", SeverityError},
		{"other kinds are skipped", "apiVersion: v1\nkind: ConfigMap\n", false,
			"t.yaml:2:7: kind: note: kind \"ConfigMap\" is not a KubeArmor policy; skipped", SeverityNote},
		{"tab indentation", header + "\taction: Block\n", false,
			"t.yaml:5:1: error: tab character in indentation (YAML allows only spaces)", SeverityError},
		{"malformed YAML", header + "  action: [Block\n", false,
			"t.yaml:4:1: error: invalid YAML: did not find expected ',' or ']'", SeverityError},
		{"missing name", "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nspec: {}\n", false,
			"t.yaml:1:1: metadata.name: error: metadata.name is required", SeverityError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadBytes("t.yaml", []byte(tt.input), Options{Lenient: tt.lenient})
			if len(res.Diagnostics) == 0 {
				t.Fatal("no diagnostics")
			}
			d := res.Diagnostics[0]
			if got := d.String(); got != tt.want || d.Severity != tt.sev {
				t.Errorf("got  %s %q\nwant %s %q\nall: %v", d.Severity, got, tt.sev, tt.want, res.Diagnostics)
			}
		})
	}
}

func capabilityPattern(t *testing.T) string {
	s, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	return s[KindPolicy].Properties["spec"].Properties["capabilities"].Properties["matchCapabilities"].Items.Properties["capability"].Pattern
}

func TestInputs(t *testing.T) {
	valid := header + "  file: {matchPaths: [{path: /etc/passwd}]}\n"
	tests := []struct {
		name     string
		input    string
		opts     Options
		policies int
		errors   int
	}{
		{"multi-document with empty documents", "---\n" + valid + "---\n---\n" + valid, Options{}, 2, 0},
		{"JSON", `{"apiVersion": "security.kubearmor.com/v1", "kind": "KubeArmorPolicy", "metadata": {"name": "j"}, "spec": {"process": {"matchPaths": [{"path": "/bin/sh"}]}}}`, Options{}, 1, 0},
		{"List", "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(valid, "\n"), "\n", "\n  ") + "\n", Options{}, 1, 0},
		{"oversize", valid, Options{MaxFileSize: 10}, 0, 1},
		{"scalar document", "hello\n", Options{}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadBytes("t", []byte(tt.input), tt.opts)
			if len(res.Policies) != tt.policies || res.Errors() != tt.errors {
				t.Errorf("%d policies, %d errors, want %d, %d: %v", len(res.Policies), res.Errors(), tt.policies, tt.errors, res.Diagnostics)
			}
		})
	}
}

func TestLint(t *testing.T) {
	doc := header + `  file:
    matchDirectories: [{dir: /etc/, recursive: true}]
    matchPaths: [{path: /etc/passwd}, {path: /etc/passwd}, {path: /etc/shadow, action: Allow}]
  process:
    matchPatterns: [{pattern: "/bin/sh -c *"}, {pattern: "bin/*"}]
  action: Block
`
	res := LoadBytes("l.yaml", []byte(doc), Options{})
	var got []string
	for _, d := range res.Diagnostics {
		got = append(got, fmt.Sprintf("%d %s", d.Line, d.Message))
	}
	want := []string{
		"7 this Allow rule switches file and process access to allow-list mode",
		"7 \"/etc/passwd\" is already covered by the directory rule at l.yaml:6:24",
		"7 duplicate of the rule at l.yaml:7:18",
		"9 pattern \"/bin/sh -c *\" contains blanks",
		"9 pattern \"bin/*\" is relative",
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in\n%s", w, all)
		}
	}
}

func TestLoadPathsStdin(t *testing.T) {
	in := strings.NewReader(header + "  file: {matchPaths: [{path: /etc/passwd}]}\n  action: Block\n")
	res, err := LoadPaths([]string{"-"}, Options{Stdin: in})
	if err != nil || res.Files != 1 || len(res.Policies) != 1 || res.Policies[0].Location.File != "-" {
		t.Fatalf("res = %+v, err = %v", res, err)
	}
	if _, err := LoadPaths([]string{"testdata/missing.yaml"}, Options{}); err == nil {
		t.Error("missing path: no error")
	}
}
