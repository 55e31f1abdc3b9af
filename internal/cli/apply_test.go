package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/pipeline"
	"github.com/bulwark-security/bulwark/internal/policystore"
	"github.com/bulwark-security/bulwark/internal/server"
	"github.com/bulwark-security/bulwark/internal/version"
)

// startPolicyServer runs the real gRPC server with a policy store on
// 127.0.0.1 and returns its address.
func startPolicyServer(t *testing.T) (string, *policystore.Store) {
	t.Helper()
	store := policystore.New(policystore.Options{StateDir: t.TempDir(), Hostname: "node-1",
		Disabled: map[policystore.Class]string{policystore.ClassNetwork: "network policies are not enforced yet"}})
	p, err := pipeline.New(pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Address: "127.0.0.1:0", Pipeline: p, Policies: store})
	if err != nil {
		t.Fatal(err)
	}
	// t.Context is cancelled before cleanups run, which stops both.
	ctx := t.Context()
	done := make(chan error, 2)
	go func() { done <- p.Start(ctx) }()
	go func() { done <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready")
	}
	return srv.Addr().String(), store
}

const applyHostPolicy = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: hsp-cli
spec:
  nodeSelector:
    matchLabels:
      kubearmor.io/hostname: "*"
  process:
    matchPaths:
      - path: /usr/bin/sleep
  action: Block
---
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: ksp-cli, namespace: web}
spec:
  selector: {matchLabels: {app: nginx}}
  file: {matchDirectories: [{dir: /etc/nginx/, readOnly: true}]}
  action: Block
`

const applyNetworkPolicy = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorNetworkPolicy
metadata: {name: knp-cli}
spec:
  nodeSelector: {matchLabels: {kubearmor.io/hostname: "*"}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
`

func TestApplyDelete(t *testing.T) {
	addr, store := startPolicyServer(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(applyHostPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	network := filepath.Join(dir, "net.yaml")
	if err := os.WriteFile(network, []byte(applyNetworkPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		out   []string
	}{
		{"apply", "", []string{"apply", "-f", good}, ExitOK,
			[]string{"KubeArmorHostPolicy/hsp-cli: Applied\nKubeArmorPolicy/web/ksp-cli: Applied\n"}},
		{"apply again modifies", "", []string{"apply", "-f", dir + "/good.yaml"}, ExitOK,
			[]string{"KubeArmorHostPolicy/hsp-cli: Modified"}},
		{"invalid file is refused locally", "", []string{"apply", "-f", "testdata/invalid.yaml"}, ExitFailure,
			[]string{`testdata/invalid.yaml:9:9: spec.file.matchPaths[0].recurive: error: unknown field "recurive"`, "nothing sent"}},
		{"network policy not enabled", "", []string{"apply", "-f", network}, ExitFailure,
			[]string{"KubeArmorNetworkPolicy/knp-cli: NotEnabled: policy kind not enabled: network policies are not enforced yet", "1 of 1 policies failed"}},
		{"stdin", applyHostPolicy, []string{"delete", "-f", "-"}, ExitOK,
			[]string{"KubeArmorHostPolicy/hsp-cli: Deleted\nKubeArmorPolicy/web/ksp-cli: Deleted\n"}},
		{"delete unknown", "", []string{"delete", "-f", good}, ExitFailure,
			[]string{"KubeArmorHostPolicy/hsp-cli: NotExist: policy KubeArmorHostPolicy/hsp-cli does not exist"}},
		{"no file", "", []string{"apply"}, ExitUsage, []string{"needs -f PATH"}},
		{"unreachable agent", "", []string{"apply", "-f", good, "--gRPC", "127.0.0.1:1", "--timeout", "1s"}, ExitFailure,
			[]string{"KubeArmorHostPolicy/hsp-cli: error:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), "--gRPC") {
				args = append(args, "--gRPC", addr)
			}
			code, out, errOut := run(t, tt.stdin, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.out {
				if !strings.Contains(out+errOut, w) {
					t.Errorf("missing %q in\nstdout:\n%s\nstderr:\n%s", w, out, errOut)
				}
			}
		})
	}
	if n := len(store.Snapshot()); n != 0 {
		t.Errorf("store holds %d policies after delete", n)
	}
}

func TestProbeCommand(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: the probe loads a BPF program")
	}
	addr, store := startPolicyServer(t)
	if st, err := store.ApplyPolicy(t.Context(), policystore.ClassHost, []byte(`{"type":"ADDED","object":{"metadata":{"name":"hsp-probe"},
		"spec":{"nodeSelector":{"matchLabels":{"kubearmor.io/hostname":"*"}},"process":{"matchPaths":[{"path":"/bin/x"}]},"action":"Block"}}}`)); err != nil {
		t.Fatalf("%v %v", st, err)
	}
	code, out, errOut := run(t, "", "probe", "-o", "json", "--gRPC", addr)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Host struct {
			Kernel string `json:"kernel"`
		} `json:"host"`
		Enforcer struct {
			Enforcer string `json:"enforcer"`
			Reason   string `json:"reason"`
		} `json:"enforcer"`
		Agent struct {
			Reachable bool `json:"reachable"`
			Data      struct {
				HostMap map[string]struct {
					PolicyList []string `json:"policyList"`
				} `json:"hostMap"`
			} `json:"data"`
		} `json:"agent"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Host.Kernel == "" || rep.Enforcer.Enforcer == "" || rep.Enforcer.Reason == "" || !rep.Agent.Reachable ||
		strings.Join(rep.Agent.Data.HostMap["node-1"].PolicyList, ",") != "hsp-probe" {
		t.Errorf("probe report:\n%s", out)
	}
	code, out, _ = run(t, "", "probe", "--gRPC", "127.0.0.1:1", "--timeout", "500ms")
	if code != ExitOK || !strings.Contains(out, "Not reachable") || !strings.Contains(out, "BPF-LSM:") {
		t.Errorf("probe without agent: %d\n%s", code, out)
	}
	if code, _, errOut := run(t, "", "probe", "-o", "yaml"); code != ExitUsage {
		t.Errorf("bad output: %d %s", code, errOut)
	}
}

func TestVersionAsksTheAgent(t *testing.T) {
	addr, _ := startPolicyServer(t)
	code, out, errOut := run(t, "", "version", "--gRPC", addr)
	if code != ExitOK || !strings.Contains(out, "bulwark  "+version.String()+"\n") ||
		!strings.Contains(out, "bulwarkd "+version.String()+"\n") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, "", "version", "--gRPC", "127.0.0.1:1")
	if code != ExitOK || !strings.Contains(out, "bulwarkd not reachable at 127.0.0.1:1") {
		t.Errorf("unreachable agent: exit %d:\n%s", code, out)
	}
}
