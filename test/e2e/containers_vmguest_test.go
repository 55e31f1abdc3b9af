//go:build vmguest

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// The guest's container runtime is the host's containerd, its runc shim
// and runc (test/vm/base.go copies them); testenv runs a private containerd
// on them, with the native snapshotter and without pivot_root in the
// guest.

// containerPolicy is a KubeArmorPolicy for the containers named name
// (standalone containers are in namespace container_namespace), with body
// the YAML under spec (indented by two spaces).
func containerPolicy(policy, name, severity, body string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: %s
  namespace: %s
spec:
  selector:
    matchLabels:
      kubearmor.io/container.name: %s
  severity: %s
  message: bulwark e2e container
%s`, policy, identity.DefaultNamespace, name, severity, body)
}

// TestContainerEnforcementBPFLSM runs containerd and runc in the guest with
// two busybox containers, web and db, and the real bulwarkd following that
// containerd with BPF-LSM and two KubeArmorPolicies selecting web by its
// name (nerdctl/name): one Blocks the exec of a copy of busybox,
// /tmp/blocked/echo, the other Audits reads of /tmp/audited. It checks,
// with containerd exec processes (as `ctr task exec`), that in web the
// blocked exec fails with EPERM and another exec works, with Block and
// Audit alerts from BPFLSM naming web in logPath and over gRPC; that the same
// operations in db (not selected) succeed without alerts; and that after
// SIGTERM the blocked exec works again in web.
func TestContainerEnforcementBPFLSM(t *testing.T) {
	if _, err := os.Stat(bulwarkd); err != nil {
		t.Fatalf("no %s in the guest: %v", bulwarkd, err)
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const (
		ref       = "docker.io/library/busybox:bulwark-e2e"
		blocked   = "/tmp/blocked/echo"
		audited   = "/tmp/audited"
		blockPol  = "ksp-e2e-container-exec"
		auditPol  = "ksp-e2e-container-audit"
		webName   = "web"
		dbName    = "db"
		namespace = "bwe2e"
	)
	d := testenv.StartContainerd(t)
	phase("containerd answers")
	cctx, _ := d.Namespace(ctx, namespace)
	img := d.ImportBusybox(cctx, ref)
	phase("image imported and unpacked")
	webID, dbID := testenv.RandomHex(32), testenv.RandomHex(32)
	_, web := d.Run(cctx, webID, img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: webName, "app": webName}})
	_, db := d.Run(cctx, dbID, img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: dbName, "app": dbName}})
	phase("containers web and db running")

	// Before bulwarkd: the busybox copy runs (as echo, its name) and the
	// audited file reads, in both containers.
	for _, task := range []client.Task{web, db} {
		st, out := d.ExecOutput(cctx, task, "sh", "-c", "mkdir -p /tmp/blocked && cp /bin/busybox "+blocked+
			" && echo audited >"+audited+" && "+blocked+" hello && cat "+audited)
		if st != 0 || out != "hello\naudited\n" {
			t.Fatalf("before bulwarkd: setup in %s: status %d, output %q; want 0, hello and audited", task.ID(), st, out)
		}
	}
	phase("containers prepared")

	policyDir := filepath.Join(t.TempDir(), "policies")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, doc := range map[string]string{
		"exec.yaml": containerPolicy(blockPol, webName, "5", `  process:
    matchPaths:
      - path: `+blocked+`
  action: Block
`),
		"audit.yaml": containerPolicy(auditPol, webName, "2", `  file:
    matchPaths:
      - path: `+audited+`
  action: Audit
`),
	} {
		if err := os.WriteFile(filepath.Join(policyDir, file), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := &lab{t: t, policyDir: policyDir}
	l.start(`enableKubeArmorPolicy: true
enableKubeArmorHostPolicy: false
criSocket: unix://` + d.Address + `
# No telemetry: the alerts checked here can only come from BPF-LSM.
visibility: none
hostVisibility: none
`)
	l.watch(ctx)
	phase("bulwarkd listening")

	blockedCmd := []string{"sh", "-c", blocked + " hello"}
	// The container's rule set is applied once bulwarkd has found web in
	// containerd: wait for the first denial, the one checked below.
	var blockedStatus uint32
	var blockedOut string
	deadline := time.Now().Add(60 * time.Second)
	for {
		blockedStatus, blockedOut = d.ExecOutput(cctx, web, blockedCmd...)
		if blockedStatus != 0 {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(t.ArtifactDir(), "bulwarkd.log"))
			t.Fatalf("exec of %s in web still allowed 60 s after bulwarkd started (output %q)\nbulwarkd log:\n%s", blocked, blockedOut, b)
		}
		time.Sleep(500 * time.Millisecond)
	}
	phase("web's rule set enforced")

	t.Run("exec_block", func(t *testing.T) {
		// busybox sh: "sh: /tmp/blocked/echo: Operation not permitted",
		// status 126 (the command was found but could not be executed).
		if blockedStatus != 126 || !strings.Contains(blockedOut, blocked+": Operation not permitted") {
			t.Errorf("in web: %v: status %d, output %q; want 126, %s: Operation not permitted", blockedCmd, blockedStatus, blockedOut, blocked)
		}
		l.expectAlert(want{Type: "MatchedPolicy", PolicyName: blockPol, Severity: "5", Operation: "Process",
			Resource: blocked, Enforcer: "BPFLSM", Action: "Block", Result: "Operation not permitted",
			ContainerName: webName, ContainerID: webID, ContainerImage: ref, NamespaceName: identity.DefaultNamespace,
			ProcessName: blocked})
	})

	t.Run("unselected_container_unaffected", func(t *testing.T) {
		// Before web's audited read, so that its alert, raised later,
		// shows that db's would have arrived by then.
		st, out := d.ExecOutput(cctx, db, "sh", "-c", blocked+" hello && cat "+audited)
		if st != 0 || out != "hello\naudited\n" {
			t.Errorf("in db: exec of %s and read of %s: status %d, output %q; want 0, hello and audited", blocked, audited, st, out)
		}
	})

	t.Run("other_exec_and_audited_read", func(t *testing.T) {
		// /bin/echo (a path: sh execs it) is allowed; the read of the
		// audited file passes with an Audit alert.
		st, out := d.ExecOutput(cctx, web, "sh", "-c", "/bin/echo allowed && cat "+audited)
		if st != 0 || out != "allowed\naudited\n" {
			t.Errorf("in web: /bin/echo and read of %s: status %d, output %q; want 0, allowed and audited", audited, st, out)
		}
		l.expectAlert(want{Type: "MatchedPolicy", PolicyName: auditPol, Severity: "2", Operation: "File",
			Resource: audited, Enforcer: "BPFLSM", Action: "Audit", Result: "Passed",
			ContainerName: webName, ContainerID: webID, ContainerImage: ref, NamespaceName: identity.DefaultNamespace,
			ProcessName: "/bin/busybox"})
	})

	t.Run("no_alert_for_unselected_container", func(t *testing.T) {
		for _, a := range l.logAlerts() {
			if a["ContainerID"] == dbID || a["ContainerName"] == dbName {
				t.Errorf("alert for db, which no policy selects: %v", a)
			}
			if a["ContainerID"] != webID {
				t.Errorf("alert not for web: %v", a)
			}
		}
	})
	phase("assertions done")

	t.Run("sigterm_ends_enforcement", func(t *testing.T) {
		l.stop(t)
		if st, out := d.ExecOutput(cctx, web, blockedCmd...); st != 0 || strings.TrimSpace(out) != "hello" {
			t.Errorf("after SIGTERM: in web: %v: status %d, output %q; want 0, hello", blockedCmd, st, out)
		}
	})
	phase("bulwarkd stopped")
}
