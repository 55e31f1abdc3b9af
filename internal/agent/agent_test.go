package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/cli"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// hostPolicyHead starts a KubeArmorHostPolicy for every host; its spec
// follows.
func hostPolicyHead(name string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: %s
spec:
  nodeSelector:
    matchLabels:
      kubearmor.io/hostname: "*"
`, name)
}

func hostPolicy(name, path string) string {
	return hostPolicyHead(name) + fmt.Sprintf(`  process:
    matchPaths:
      - path: %s
  action: Block
`, path)
}

type env struct {
	dir, config, policyDir, stateDir, pidFile, socket string
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := rootTempDir(t, "bwd", "needs root: bulwarkd probes BPF")
	e := env{dir: dir, config: filepath.Join(dir, "bulwarkd.yaml"), policyDir: filepath.Join(dir, "policies"),
		stateDir: filepath.Join(dir, "state"), pidFile: filepath.Join(dir, "bulwarkd.pid"), socket: filepath.Join(dir, "b.sock")}
	if err := os.Mkdir(e.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(e.policyDir, "a.yaml"), hostPolicy("hsp-a", "/bin/a"))
	write(t, e.config, fmt.Sprintf(`# test configuration
gRPC: unix://%s
gRPCHealthPort: 0
policyDir: %s
stateDir: %s
pidFile: %s
machineIDPath: %s
hostDefaultFilePosture: block
`, e.socket, e.policyDir, e.stateDir, e.pidFile, filepath.Join(dir, "no-machine-id")))
	return e
}

// rootTempDir skips the test unless it runs as root, and returns a short
// temporary directory: unix socket paths are limited to 108 bytes.
func rootTempDir(t *testing.T, prefix, why string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip(why)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// settle bounds the waits for the agent to act: generous, because CI runs
// test packages in parallel on two cores. It is a liveness bound, never a
// measurement.
const settle = 30 * time.Second

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func selected(a *agent.Agent) []string {
	var names []string
	for _, p := range a.RuleSet().Policies() {
		names = append(names, p.Name)
	}
	return names
}

func TestAgentInProcess(t *testing.T) {
	e := newEnv(t)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	readyCh := make(chan *agent.Agent, 1)
	done := make(chan int, 1)
	go func() {
		done <- agent.Main(ctx, agent.MainOptions{
			Args: []string{"--config", e.config}, Stdout: &logs, Stderr: &logs, NoSignal: true,
			Ready: func(a *agent.Agent) { readyCh <- a },
		})
	}()
	var a *agent.Agent
	select {
	case a = <-readyCh:
	case code := <-done:
		t.Fatalf("bulwarkd exited with %d:\n%s", code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("bulwarkd not ready:\n%s", logs.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()

	// Started, in monitor-only mode with the reason logged.
	if _, none := a.Enforcer().(*agent.NoneEnforcer); !none {
		t.Skipf("this host has an enforcer (%s); the test expects monitor-only", a.Enforcer().Name())
	}
	if !strings.Contains(logs.String(), "no enforcer available, running in monitor-only mode") ||
		!strings.Contains(logs.String(), a.Choice().Reason) || a.Choice().Reason == "" {
		t.Errorf("enforcer-unavailable reason not logged")
	}
	if a.RuleSet().Mode() != "audited" || a.RuleSet().Postures().File != "block" {
		t.Errorf("rule set mode %s postures %+v", a.RuleSet().Mode(), a.RuleSet().Postures())
	}
	if !slices.Equal(selected(a), []string{"hsp-a"}) {
		t.Errorf("selected = %v", selected(a))
	}
	if b, err := os.ReadFile(e.pidFile); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("pid file: %q %v", b, err)
	}
	if !strings.Contains(logs.String(), "machine id unavailable, using the host name") {
		t.Errorf("machine-id fallback not logged")
	}

	// A policy file change is picked up.
	write(t, filepath.Join(e.policyDir, "b.yaml"), hostPolicy("hsp-b", "/bin/b"))
	eventually(t, "hsp-b in the rule set", settle, func() bool { return slices.Contains(selected(a), "hsp-b") })

	// An apply over real gRPC changes the store and the rule set.
	apiFile := filepath.Join(e.dir, "api.yaml")
	write(t, apiFile, hostPolicy("hsp-api", "/bin/api"))
	var out, errOut bytes.Buffer
	if code := cli.Run([]string{"apply", "-f", apiFile, "--gRPC", "unix://" + e.socket}, &out, &errOut); code != 0 {
		t.Fatalf("apply exit %d: %s %s", code, out.String(), errOut.String())
	}
	if strings.TrimSpace(out.String()) != "KubeArmorHostPolicy/hsp-api: Applied" {
		t.Errorf("apply output %q", out.String())
	}
	eventually(t, "hsp-api in the rule set", settle, func() bool { return slices.Contains(selected(a), "hsp-api") })
	if !slices.ContainsFunc(a.Store().Snapshot(), func(p *policy.Policy) bool { return p.Name == "hsp-api" }) {
		t.Error("hsp-api not in the store")
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "policies", "kubearmorhostpolicy-hsp-api.yaml")); err != nil {
		t.Errorf("not persisted: %v", err)
	}

	// A dynamic configuration change recompiles the rule set.
	write(t, e.config, strings.Replace(mustRead(t, e.config), "hostDefaultFilePosture: block", "hostDefaultFilePosture: audit", 1))
	eventually(t, "posture reload", settle, func() bool { return a.RuleSet().Postures().File == "audit" })

	// probe reaches the agent.
	out.Reset()
	if code := cli.Run([]string{"probe", "--gRPC", "unix://" + e.socket}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "hsp-a, hsp-api, hsp-b") {
		t.Errorf("probe exit %d:\n%s", code, out.String())
	}

	stopMain(t, cancel, done)
	if _, err := os.Stat(e.pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
}

// stopMain cancels Main's context and expects exit code 0 within 10 s.
func stopMain(t *testing.T, cancel context.CancelFunc, done chan int) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bulwarkd did not stop")
	}
}

func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bulwarkd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/bulwark-security/bulwark/cmd/bulwarkd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestBinarySIGTERMAndBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	e := newEnv(t)
	bin := buildDaemon(t)

	// Invalid configuration: exit 2 with file:line:key, before any probe.
	bad := filepath.Join(e.dir, "bad.yaml")
	write(t, bad, "gRPC: 99999\nhostDefaultFilePosture: deny\n")
	out, err := exec.Command(bin, "--config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("bad config: %v\n%s", err, out)
	}
	for _, want := range []string{bad + ":1:7: gRPC: invalid port 99999", bad + `:2:25: hostDefaultFilePosture: invalid posture "deny"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "host probed") {
		t.Error("probed despite an invalid configuration")
	}

	// Start, rotate the alert log, change throttling live, SIGTERM.
	alertLog := filepath.Join(e.dir, "alerts.log")
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	write(t, e.config, string(cfg)+"logPath: "+alertLog+"\n")
	var logs testenv.SyncBuffer
	cmd := exec.Command(bin, "--config", e.config, "--log-format", "json")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // when a check below fails
	eventually(t, "bulwarkd running", settle, func() bool { return strings.Contains(logs.String(), `"msg":"bulwarkd running"`) })
	if b, err := os.ReadFile(e.pidFile); err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(cmd.Process.Pid) {
		t.Errorf("pid file %q %v", b, err)
	}
	if err := os.Rename(alertLog, alertLog+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the alert log reopened after SIGHUP", settle, func() bool { _, err := os.Stat(alertLog); return err == nil })
	write(t, e.config, string(cfg)+"logPath: "+alertLog+"\nmaxAlertPerSec: 3\nalertThrottling: false\n")
	eventually(t, "throttling changed live", settle, func() bool {
		return strings.Contains(logs.String(), `"msg":"alert throttling changed","component":"pipeline","throttling":false,"maxAlertsPerSec":3`)
	})
	if strings.Contains(logs.String(), "apply only after a restart") {
		t.Errorf("throttling keys reported as restart-only:\n%s", logs.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("no exit after SIGTERM:\n%s", logs.String())
	}
	if _, err := os.Stat(e.pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"bulwarkd stopped"`) {
		t.Errorf("no clean stop:\n%s", logs.String())
	}

	// version
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "bulwarkd ") {
		t.Errorf("--version: %q %v", out, err)
	}
}

func TestPIDFileFallback(t *testing.T) {
	e := newEnv(t)
	// The configured pid file's directory does not exist (as a read-only
	// /var would refuse it): the agent falls back and still starts.
	cfg := strings.Replace(mustRead(t, e.config), "pidFile: "+e.pidFile, "pidFile: /nonexistent-dir/bulwarkd.pid", 1)
	write(t, e.config, cfg)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	ready := make(chan struct{})
	go func() {
		done <- agent.Main(ctx, agent.MainOptions{Args: []string{"--config", e.config}, Stdout: &logs, Stderr: &logs,
			NoSignal: true, Ready: func(*agent.Agent) { close(ready) }})
	}()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("exited:\n%s", logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("not ready:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "pid file written to a fallback location") {
		t.Errorf("no fallback:\n%s", logs.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func errorsAs(err error, target **exec.ExitError) bool { return errors.As(err, target) }
