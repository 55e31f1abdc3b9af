package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/probe"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// telemetryEnv is a bulwarkd set-up whose policies speak about binaries
// the test built in its own directory.
type telemetryEnv struct {
	dir, config, policyDir, socket, events string
	audited, blocked, plain                string // copies of the actor
	secret, quiet, denyDir                 string
}

const testNodeID = "0123456789abcdef-test-node"

func newTelemetryEnv(t *testing.T) telemetryEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the actor and runs the monitor")
	}
	dir := rootTempDir(t, "bwt", "needs root: the monitor loads eBPF programs")
	e := telemetryEnv{dir: dir, config: filepath.Join(dir, "bulwarkd.yaml"), policyDir: filepath.Join(dir, "policies"),
		socket: filepath.Join(dir, "b.sock"), events: filepath.Join(dir, "events.jsonl"),
		audited: filepath.Join(dir, "bin", "audited"), blocked: filepath.Join(dir, "bin", "blocked"),
		plain: filepath.Join(dir, "bin", "plain"), secret: filepath.Join(dir, "secret.txt"),
		quiet: filepath.Join(dir, "quiet.txt"), denyDir: filepath.Join(dir, "deny")}
	for _, d := range []string{e.policyDir, filepath.Dir(e.audited), e.denyDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command("go", "build", "-o", e.audited, "./testdata/actor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build actor: %v\n%s", err, out)
	}
	for _, p := range []string{e.blocked, e.plain} {
		write(t, p, mustRead(t, e.audited))
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, e.secret, "s")
	write(t, e.quiet, "q")
	write(t, filepath.Join(dir, "machine-id"), testNodeID+"\n")
	write(t, filepath.Join(e.policyDir, "audit.yaml"), testHostPolicy("hsp-test-audit", 4, `tags: ["test", "T0000"]
  message: audited actor ran`, e.audited, e.secret, "Audit"))
	write(t, filepath.Join(e.policyDir, "block.yaml"), testHostPolicy("hsp-test-block", 8, "message: blocked actor ran",
		e.blocked, e.denyDir, "Block"))
	e.writeConfig(t, "process,file,network,capabilities")
	return e
}

// testHostPolicy is a host policy with one process and one file path.
func testHostPolicy(name string, severity int, extra, process, file, action string) string {
	return hostPolicyHead(name) + fmt.Sprintf(`  severity: %d
  %s
  process:
    matchPaths:
      - path: %s
  file:
    matchPaths:
      - path: %s
  action: %s
`, severity, extra, process, file, action)
}

func (e telemetryEnv) writeConfig(t *testing.T, hostVisibility string) {
	t.Helper()
	write(t, e.config, testConfig(e.dir, e.socket, e.events, e.policyDir, "enableKubeArmorHostPolicy: true\nhostVisibility: "+hostVisibility+"\n"))
}

// testConfig is a bulwarkd configuration in dir, followed by extra keys.
func testConfig(dir, socket, events, policyDir, extra string) string {
	return fmt.Sprintf(`host: bwtest-host
gRPC: unix://%s
gRPCHealthPort: 0
logPath: %s
policyDir: %s
stateDir: %s
pidFile: ""
machineIDPath: %s
alertThrottling: false
`, socket, events, policyDir, filepath.Join(dir, "state"), filepath.Join(dir, "machine-id")) + extra
}

// run runs one actor and returns its pid.
func run(t *testing.T, bin string, args ...string) int {
	t.Helper()
	cmd := exec.Command(bin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", bin, err, out)
	}
	return cmd.Process.Pid
}

// record is a JSON line of logPath (an Alert or a Log).
type record struct {
	Type, PolicyName, Action, Enforcer, Operation, Resource string
	HostPID                                                 int
	EventData                                               map[string]string
}

func readEvents(t *testing.T, path string) []record { return readJSONLines[record](t, path) }

// readJSONLines reads logPath's records as T.
func readJSONLines[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("logPath line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// findEvent finds the exec (or, for alerts, any) record of a process:
// before its exec, the forked child is still the test binary.
func findEvent(recs []record, pid int, typ string) (record, bool) {
	i := slices.IndexFunc(recs, func(r record) bool {
		return r.HostPID == pid && r.Type == typ && (typ != "HostLog" || r.Operation == "Process")
	})
	if i < 0 {
		return record{}, false
	}
	return recs[i], true
}

func startMain(t *testing.T, ctx context.Context, configFile string, logs *testenv.SyncBuffer) (*agent.Agent, chan int) {
	t.Helper()
	readyCh := make(chan *agent.Agent, 1)
	done := make(chan int, 1)
	go func() {
		done <- agent.Main(ctx, agent.MainOptions{
			Args: []string{"--config", configFile}, Stdout: logs, Stderr: logs, NoSignal: true,
			Ready: func(a *agent.Agent) { readyCh <- a },
		})
	}()
	select {
	case a := <-readyCh:
		return a, done
	case code := <-done:
		t.Fatalf("bulwarkd exited with %d:\n%s", code, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("bulwarkd not ready:\n%s", logs.String())
	}
	return nil, nil
}

func TestTelemetryHostAlerts(t *testing.T) {
	e := newTelemetryEnv(t)
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, done := startMain(t, ctx, e.config, &logs)
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()
	if !strings.Contains(logs.String(), `msg="monitor attached"`) {
		t.Fatalf("monitor not attached")
	}
	if _, none := a.Enforcer().(*agent.NoneEnforcer); !none {
		t.Skipf("this host has an enforcer (%s); the test expects monitor-only", a.Enforcer().Name())
	}
	stream := subscribe(t, ctx, e.socket)
	stream.warmUp(t, e.audited)
	self, _ := os.Executable()

	// An Audit rule and a Block rule (Audit (Block): no enforcer here) on
	// executables, an Audit rule on a file.
	auditPID := run(t, e.audited)
	blockPID := run(t, e.blocked)
	readPID := run(t, e.plain, "read", e.secret)
	plainPID := run(t, e.plain)
	for _, c := range []struct {
		pid                                          int
		policy, severity, action, op, resource, proc string
	}{
		{auditPID, "hsp-test-audit", "4", "Audit", "Process", e.audited, e.audited},
		{blockPID, "hsp-test-block", "8", "Audit (Block)", "Process", e.blocked, e.blocked},
		{readPID, "hsp-test-audit", "4", "Audit", "File", e.secret, e.plain},
	} {
		al := stream.wait(t, c.policy+" alert of "+c.resource, c.pid)
		if al.PolicyName != c.policy || al.Severity != c.severity || al.Action != c.action ||
			al.Enforcer != agent.MonitorEnforcerName || al.Operation != c.op || al.Resource != c.resource ||
			al.ProcessName != c.proc || al.ParentProcessName != self || al.Type != "MatchedHostPolicy" ||
			al.HostName != "bwtest-host" || al.NodeID != testNodeID || al.Result != "Passed" {
			t.Errorf("alert of %s: %+v", c.resource, al)
		}
		if anc := al.EventData["Ancestry"]; !strings.HasSuffix(anc, self+" > "+c.proc) {
			t.Errorf("alert of %s: Ancestry %q, want ... > %s > %s", c.resource, anc, self, c.proc)
		}
		if c.policy == "hsp-test-audit" && (al.Message != "audited actor ran" || al.Tags != "test,T0000") {
			t.Errorf("alert of %s: message %q tags %q", c.resource, al.Message, al.Tags)
		}
	}
	// The same alerts in logPath, and the unpoliced exec as a HostLog.
	var recs []record
	eventually(t, "alerts and HostLog in logPath", settle, func() bool {
		recs = readEvents(t, e.events)
		_, ok1 := findEvent(recs, auditPID, "MatchedHostPolicy")
		_, ok2 := findEvent(recs, blockPID, "MatchedHostPolicy")
		_, ok3 := findEvent(recs, plainPID, "HostLog")
		return ok1 && ok2 && ok3
	})
	if r, _ := findEvent(recs, blockPID, "MatchedHostPolicy"); r.PolicyName != "hsp-test-block" || r.Action != "Audit (Block)" ||
		r.Enforcer != agent.MonitorEnforcerName || r.Resource != e.blocked || !strings.HasSuffix(r.EventData["Ancestry"], " > "+e.blocked) {
		t.Errorf("logPath alert: %+v", r)
	}
	if r, _ := findEvent(recs, plainPID, "HostLog"); r.Operation != "Process" || r.Resource != e.plain ||
		!strings.HasSuffix(r.EventData["Ancestry"], " > "+e.plain) || r.PolicyName != "" {
		t.Errorf("HostLog: %+v", r)
	}

	// A policy file deleted from the directory stops its alerts: the
	// blocked actor runs, then the audited one as a marker (one producer's
	// records keep their order).
	if err := os.Remove(filepath.Join(e.policyDir, "block.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hsp-test-block removed", settle, func() bool { return !slices.Contains(selected(a), "hsp-test-block") })
	blockPID = run(t, e.blocked)
	marker := run(t, e.audited)
	stream.wait(t, "marker alert", marker)
	if got := stream.byPID(blockPID); len(got) > 0 {
		t.Errorf("alert after the policy was deleted: %+v", got[0])
	}

	// hostVisibility none (a live reload): no HostLogs, and — as upstream,
	// whose Audit rules are matched on telemetry only — no Audit alerts.
	e.writeConfig(t, "none")
	eventually(t, "hostVisibility none applied", settle, func() bool {
		return strings.Contains(logs.String(), `msg="visibility applied" component=monitor visibility=process,file,network,capabilities hostVisibility=none`)
	})
	hiddenAudit := run(t, e.audited)
	hiddenPlain := run(t, e.plain)
	// Process only: exec is visible again, files are not.
	e.writeConfig(t, "process")
	eventually(t, "hostVisibility process applied", settle, func() bool {
		return strings.Contains(logs.String(), "hostVisibility=process monitorEnabled=true")
	})
	hiddenRead := run(t, e.plain, "read", e.secret)
	marker = run(t, e.audited)
	stream.wait(t, "marker alert after visibility process", marker)
	for _, pid := range []int{hiddenAudit, hiddenRead} {
		if got := stream.byPID(pid); len(got) > 0 {
			t.Errorf("alert for an invisible class: %+v", got[0])
		}
	}
	eventually(t, "marker in logPath", settle, func() bool {
		recs = readEvents(t, e.events)
		_, ok := findEvent(recs, marker, "MatchedHostPolicy")
		return ok
	})
	if r, ok := findEvent(recs, hiddenPlain, "HostLog"); ok {
		t.Errorf("HostLog with hostVisibility none: %+v", r)
	}
	if slices.ContainsFunc(recs, func(r record) bool { return r.HostPID == hiddenRead && r.Operation == "File" }) {
		t.Errorf("file record with hostVisibility process")
	}
	if strings.Contains(logs.String(), "apply only after a restart") {
		t.Errorf("visibility reported as restart-only")
	}

	stopMain(t, cancel, done)
	if !strings.Contains(logs.String(), `msg="monitor stopped"`) {
		t.Errorf("monitor not stopped cleanly")
	}
}

// startAgent starts a until it is ready; the channel gets Start's result.
func startAgent(t *testing.T, ctx context.Context, a *agent.Agent, logs *testenv.SyncBuffer) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- a.Start(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("agent stopped: %v\n%s", err, logs.String())
	}
	return done
}

// fakeEnforcer pretends to enforce under a given name; it blocks nothing.
type fakeEnforcer struct {
	agent.NoneEnforcer
	name string
}

func (f *fakeEnforcer) Name() string { return f.name }

// TestTelemetryEnforcerAlerts: with an enforcer that reports its own
// denials (BPF-LSM), the monitor's Block conclusions become HostLogs; with
// one that does not (AppArmor), a failed operation under a Block rule
// becomes a Block alert in the enforcer's name. Audit alerts stay the
// monitor's either way.
func TestTelemetryEnforcerAlerts(t *testing.T) {
	for _, c := range []struct {
		enforcer  string
		wantAlert bool
	}{{agent.BPFLSMEnforcerName, false}, {"AppArmor", true}} {
		t.Run(c.enforcer, func(t *testing.T) {
			e := newTelemetryEnv(t)
			cfg, err := config.Load(config.Options{File: e.config})
			if err != nil {
				t.Fatal(err)
			}
			report := *probe.Host()
			report.BPFLSM = probe.Feature{Available: true}
			var logs testenv.SyncBuffer
			a, err := agent.New(agent.Options{
				Config: cfg, NoSignal: true, Components: agent.DefaultComponents,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Probe:  func() *probe.Report { return &report },
				Enforcers: map[string]agent.EnforcerFactory{
					probe.EnforcerBPF: func(agent.EnforcerOptions) (agent.Enforcer, error) { return &fakeEnforcer{name: c.enforcer}, nil },
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			startAgent(t, ctx, a, &logs)
			defer func() {
				if t.Failed() {
					t.Logf("daemon log:\n%s", logs.String())
				}
			}()
			if a.Enforcer().Name() != c.enforcer || a.RuleSet().Mode() == engine.PolicyAudited {
				t.Fatalf("enforcer %s, mode %s", a.Enforcer().Name(), a.RuleSet().Mode())
			}
			if !c.wantAlert {
				// BPF-LSM decides and reports in the kernel: the monitor's
				// conclusions about a denial and an Audit hit are logs.
				denied := run(t, e.plain, "write", e.denyDir) // EISDIR under a Block rule
				audited := run(t, e.audited)
				eventually(t, "demoted HostLogs", settle, func() bool {
					recs := readEvents(t, e.events)
					return slices.ContainsFunc(recs, func(r record) bool {
						return r.HostPID == denied && r.Type == "HostLog" && r.Resource == e.denyDir
					}) && slices.ContainsFunc(recs, func(r record) bool { return r.HostPID == audited && r.Type == "HostLog" })
				})
				for _, r := range readEvents(t, e.events) {
					if (r.HostPID == denied || r.HostPID == audited) && r.Type != "HostLog" {
						t.Errorf("monitor alert for an operation the enforcer reports: %+v", r)
					}
				}
				return
			}
			stream := subscribe(t, ctx, e.socket)
			stream.warmUp(t, e.audited)
			denied := run(t, e.plain, "write", e.denyDir) // EISDIR under a Block rule
			marker := run(t, e.audited)
			al := stream.wait(t, "audit alert", marker)
			if al.Action != "Audit" || al.Enforcer != agent.MonitorEnforcerName {
				t.Errorf("audit alert: %+v", al)
			}
			got := stream.byPID(denied)
			if len(got) != 1 || got[0].Action != "Block" || got[0].Enforcer != c.enforcer || got[0].PolicyName != "hsp-test-block" ||
				got[0].Resource != e.denyDir || got[0].Result == "Passed" || got[0].Type != "MatchedHostPolicy" {
				t.Errorf("enforcer alert: %+v", got)
			}
		})
	}
}

// TestTelemetryUnavailable: a host without BTF runs without telemetry and
// says why.
func TestTelemetryUnavailable(t *testing.T) {
	e := newEnv(t)
	cfg, err := config.Load(config.Options{File: e.config})
	if err != nil {
		t.Fatal(err)
	}
	report := *probe.Host()
	report.BTF = probe.BTF{Path: "/nonexistent/vmlinux"}
	var logs testenv.SyncBuffer
	a, err := agent.New(agent.Options{Config: cfg, NoSignal: true, Components: agent.DefaultComponents,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Probe: func() *probe.Report { return &report }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := startAgent(t, ctx, a, &logs)
	want := `msg="monitor unavailable, running without telemetry: no logs, and no Audit alerts" component=monitor reason="no kernel BTF at /nonexistent/vmlinux: the monitor's tp_btf programs cannot load"`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("missing %s in:\n%s", want, logs.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("agent: %v", err)
	}
}

// TestDemoScript runs the README's main command (make demo) end to end.
func TestDemoScript(t *testing.T) {
	if os.Getuid() != 0 || testing.Short() {
		t.Skip("needs root; builds and runs bulwarkd")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../hack/demo.sh")
	cmd.Env = append(os.Environ(), "BIN_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/demo.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"Audit (Block)", "hsp-audit-demo-file", "hsp-protect-credentials", "OK: every expected alert was raised"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
