package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// run executes the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := New(&out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Err != nil {
			errOut.WriteString(err.Error())
		}
	}
	return ExitCode(err), out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{"valid policies", []string{"policy", "validate", "testdata/container-policies.yaml"}, ExitOK,
			"1 files, 2 policies, 0 errors, 2 warnings"},
		{"invalid policy", []string{"policy", "validate", "testdata/invalid.yaml"}, ExitFailure,
			"testdata/invalid.yaml:9:9: spec.file.matchPaths[0].recurive: error: unknown field \"recurive\""},
		{"missing nodeSelector is reported too", []string{"policy", "validate", "testdata/invalid.yaml"}, ExitFailure,
			"spec.nodeSelector: error: required field \"nodeSelector\" is missing"},
		{"lenient keeps schema errors", []string{"policy", "validate", "--lenient", "testdata/invalid.yaml"}, ExitFailure,
			"1 files, 0 policies, 1 errors, 1 warnings"},
		{"no path", []string{"policy", "validate"}, ExitUsage, "needs at least one PATH"},
		{"missing file", []string{"policy", "validate", "testdata/nope.yaml"}, ExitUsage, "nope.yaml"},
		{"bad output", []string{"policy", "validate", "-o", "xml", "testdata/invalid.yaml"}, ExitUsage, "--output"},
		{"unknown flag", []string{"policy", "validate", "--strict", "x"}, ExitUsage, "unknown flag: --strict"},
		{"unknown command", []string{"polcy"}, ExitUsage, "unknown command"},
		{"explain needs an op", []string{"policy", "explain", "-f", "testdata", "--host"}, ExitUsage, "--op"},
		{"explain needs a workload", []string{"policy", "explain", "-f", "testdata", "--op", "file", "--path", "/a"}, ExitUsage,
			"either --host or --namespace"},
		{"explain op flags", []string{"policy", "explain", "-f", "testdata/container-policies.yaml", "--namespace", "web", "--op", "network"}, ExitUsage,
			"--op network needs --protocol or --socket-type"},
		{"explain refuses invalid policies", []string{"policy", "explain", "-f", "testdata", "--host", "--op", "file", "--path", "/a"}, ExitFailure,
			"errors in the policies"},
		{"version", []string{"version", "--gRPC", "127.0.0.1:1"}, ExitOK, "bulwark  "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.out) {
				t.Errorf("exit %d, want %d; output does not contain %q:\n%s%s", code, tt.code, tt.out, out, errOut)
			}
		})
	}
}

func TestValidateStdinJSON(t *testing.T) {
	const doc = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: p, namespace: default}
spec:
  selector: {matchLabels: {app: a}}
  file:
    matchPaths: [{path: /etc/passwd}]
    matchPaths: [{path: /etc/shadow}]
`
	code, out, _ := run(t, doc, "policy", "validate", "-o", "json", "-")
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d (duplicate key is an error)", code, ExitFailure)
	}
	var rep validateReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if rep.Files != 1 || rep.Errors != 1 || len(rep.Diagnostics) == 0 {
		t.Fatalf("report = %+v", rep)
	}
	d := rep.Diagnostics[0]
	if d.Line != 8 || d.Field != "spec.file.matchPaths" || !strings.Contains(d.Message, "duplicate key") {
		t.Errorf("diagnostic = %+v, want the duplicate matchPaths at line 8", d)
	}
}

func TestExplain(t *testing.T) {
	container := []string{"policy", "explain", "-f", "testdata/container-policies.yaml", "--namespace", "web", "--labels", "app=nginx"}
	tests := []struct {
		name                       string
		args                       []string
		action, source, policyName string
		section                    string
	}{
		{"blocked by path", []string{"--op", "process", "--path", "/usr/bin/apt", "--source", "/bin/sh"},
			"Block", "policy", "block-package-managers", "process.matchPaths"},
		{"blocked by execname", []string{"--op", "process", "--path", "/usr/local/bin/apt-get"},
			"Block", "policy", "block-package-managers", "process.matchPaths"},
		{"allowed by fromSource", []string{"--op", "process", "--path", "/bin/sh", "--source", "/usr/sbin/nginx"},
			"Allow", "policy", "nginx-least-privilege", "process.matchPaths"},
		{"other source falls to the audit posture", []string{"--op", "process", "--path", "/bin/sh", "--source", "/bin/bash"},
			"Audit", "defaultPosture", "DefaultPosture", ""},
		{"block posture", []string{"--file-posture", "block", "--op", "process", "--path", "/bin/sh", "--source", "/bin/bash"},
			"Block", "defaultPosture", "DefaultPosture", ""},
		{"readOnly allow permits reads", []string{"--file-posture", "block", "--op", "file", "--path", "/etc/nginx/conf.d/a.conf"},
			"Allow", "policy", "nginx-least-privilege", "file.matchDirectories"},
		{"readOnly allow refuses writes", []string{"--file-posture", "block", "--op", "file", "--path", "/etc/nginx/conf.d/a.conf", "--write"},
			"Block", "defaultPosture", "DefaultPosture", ""},
		{"audited workload", []string{"--policy-mode", "audited", "--op", "process", "--path", "/usr/bin/apt"},
			"Audit (Block)", "policy", "block-package-managers", "process.matchPaths"},
		{"network class not allow-listed", []string{"--op", "network", "--protocol", "tcp"},
			"Allow", "none", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(append([]string{}, container...), tt.args...), "-o", "json")
			code, out, errOut := run(t, "", args...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep struct {
				Action, Source, PolicyName string
				Rule                       *struct{ Section string }
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			section := ""
			if rep.Rule != nil {
				section = rep.Rule.Section
			}
			if rep.Action != tt.action || rep.Source != tt.source || rep.PolicyName != tt.policyName || section != tt.section {
				t.Errorf("got %s/%s/%s/%s, want %s/%s/%s/%s\n%s", rep.Action, rep.Source, rep.PolicyName, section,
					tt.action, tt.source, tt.policyName, tt.section, out)
			}
		})
	}
}

func TestExplainText(t *testing.T) {
	code, out, errOut := run(t, "", "policy", "explain", "-f", "../../examples/host", "--host", "--hostname", "node-1",
		"--op", "process", "--path", "/tmp/bulwark-demo/sub/tool", "--source", "/usr/bin/bash")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"action:     Block\n",
		"policy:     hsp-block-demo\n",
		"rule:       process.matchDirectories[0] at ../../examples/host/block-demo-binary.yaml:15:9\n",
		"KubeArmorHostPolicy/hsp-block-demo, ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestValidateCorpus(t *testing.T) {
	code, out, _ := run(t, "", "policy", "validate", "../../../shared/corpus")
	if code != ExitFailure {
		t.Fatalf("exit %d, want %d: the corpus has known flaws", code, ExitFailure)
	}
	if !strings.Contains(out, "592 files, ") {
		t.Errorf("summary does not count 592 files:\n%s", out[max(0, len(out)-200):])
	}
}

func TestCompletion(t *testing.T) {
	code, out, _ := run(t, "", "__complete", "policy", "explain", "--op", "")
	if code != ExitOK || !strings.Contains(out, "capabilities\n") || !strings.Contains(out, "syscall\n") {
		t.Errorf("exit %d, completions of --op:\n%s", code, out)
	}
	code, out, _ = run(t, "", "completion", "bash")
	if code != ExitOK || !strings.Contains(out, "bash completion") {
		t.Errorf("exit %d, bash completion script missing:\n%.200s", code, out)
	}
}
