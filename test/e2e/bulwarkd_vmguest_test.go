//go:build vmguest

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/test/vm/guest"
)

const bulwarkd = "/usr/local/bin/bulwarkd"

// startBudget bounds bulwarkd's start in the emulated guest: the verifier
// takes 25-60 s there for the enforcer's programs (the socket hooks most),
// more on a loaded machine. A liveness bound, not a measurement.
const startBudget = 3 * time.Minute

// lab is one bulwarkd run on the test's own files and policies.
type lab struct {
	t         *testing.T
	dir       string // the test's files: helper, target, secret, ...
	policyDir string
	logPath   string
	sock      string
	metrics   string
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error

	mu    sync.Mutex
	grpcA []*feeder.Alert
}

func (l *lab) path(name string) string { return filepath.Join(l.dir, name) }

// writePolicy writes file into the policy directory: a
// KubeArmorHostPolicy for every host, with body (YAML under spec, indented
// by two spaces) and the test's directory substituted for DIR.
func (l *lab) writePolicy(file, name, severity, body string) {
	l.t.Helper()
	doc := fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: %s
spec:
  nodeSelector:
    matchLabels:
      kubearmor.io/hostname: "*"
  severity: %s
  message: bulwark e2e
%s`, name, severity, strings.ReplaceAll(body, "DIR", l.dir))
	if err := os.WriteFile(filepath.Join(l.policyDir, file), []byte(doc), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// helper runs the helper copy of the test binary doing op and returns its
// errno and pid.
func (l *lab) helper(op string) (errno, pid int) {
	l.t.Helper()
	cmd := exec.Command(l.path("helper"))
	cmd.Env = []string{helperEnv + "=" + op}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		l.t.Fatalf("helper %q did not run: %v", op, err)
	}
	code := cmd.ProcessState.ExitCode()
	if code >= 254 || code < 0 {
		l.t.Fatalf("helper %q failed: %v %s", op, err, stderr.String())
	}
	return code, cmd.Process.Pid
}

// want is what an alert must say; empty fields are not checked.
type want struct {
	Type, PolicyName, Severity, Operation, Resource, Enforcer, Action, Result string
	ProcessName, ParentProcessName                                            string
	ContainerName, ContainerID, ContainerImage, NamespaceName                 string
	HostPID, HostPPID                                                         int
}

func (w want) String() string {
	b, _ := json.Marshal(w)
	return string(b)
}

// match reports whether the alert a (decoded JSON, KubeArmor field names)
// is w.
func (w want) match(a map[string]any) bool {
	str := func(k string) string { s, _ := a[k].(string); return s }
	num := func(k string) int { f, _ := a[k].(float64); return int(f) }
	for k, v := range map[string]string{"Type": w.Type, "PolicyName": w.PolicyName, "Severity": w.Severity,
		"Operation": w.Operation, "Resource": w.Resource, "Enforcer": w.Enforcer, "Action": w.Action,
		"Result": w.Result, "ProcessName": w.ProcessName, "ParentProcessName": w.ParentProcessName,
		"ContainerName": w.ContainerName, "ContainerID": w.ContainerID, "ContainerImage": w.ContainerImage,
		"NamespaceName": w.NamespaceName} {
		if v != "" && str(k) != v {
			return false
		}
	}
	return (w.HostPID == 0 || num("HostPID") == w.HostPID) && (w.HostPPID == 0 || num("HostPPID") == w.HostPPID)
}

// logAlerts returns the alerts in logPath.
func (l *lab) logAlerts() []map[string]any { return l.logRecords("Matched") }

// logRecords returns the records in logPath whose Type starts with prefix.
func (l *lab) logRecords(prefix string) []map[string]any {
	f, err := os.Open(l.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && strings.HasPrefix(fmt.Sprint(m["Type"]), prefix) {
			out = append(out, m)
		}
	}
	return out
}

// grpcAlerts returns the alerts received over WatchAlerts, as JSON with
// KubeArmor field names.
func (l *lab) grpcAlerts() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]map[string]any, 0, len(l.grpcA))
	for _, a := range l.grpcA {
		b, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		// protojson writes int32 as numbers and keeps the proto names,
		// which are KubeArmor's.
		out = append(out, m)
	}
	return out
}

// expectAlert waits until an alert matching w is in logPath and came over
// gRPC.
func (l *lab) expectAlert(w want) {
	l.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var inLog, inGRPC bool
	for time.Now().Before(deadline) {
		inLog = anyMatch(l.logAlerts(), w)
		inGRPC = anyMatch(l.grpcAlerts(), w)
		if inLog && inGRPC {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Errorf("alert %v: in logPath %v, over gRPC %v; alerts in logPath:\n%s", w, inLog, inGRPC, dump(l.logAlerts()))
}

func anyMatch(as []map[string]any, w want) bool {
	for _, a := range as {
		if w.match(a) {
			return true
		}
	}
	return false
}

func dump(as []map[string]any) string {
	var b strings.Builder
	for _, a := range as {
		j, _ := json.Marshal(a)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// eventually polls op until the helper's errno is want.
func (l *lab) eventually(op string, want syscall.Errno, within time.Duration) bool {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if e, _ := l.helper(op); syscall.Errno(e) == want {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventuallyNot polls op until the helper's errno is not errno.
func (l *lab) eventuallyNot(op string, errno syscall.Errno, within time.Duration) bool {
	l.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if e, _ := l.helper(op); syscall.Errno(e) != errno {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start writes the configuration (the lab's paths, BPF-LSM, then extra:
// YAML lines of the test's own keys) and starts bulwarkd; it returns once
// bulwarkd's gRPC socket listens. Its stderr, configuration and alert file
// go to the test's artifacts.
func (l *lab) start(extra string) {
	t := l.t
	work := t.TempDir()
	l.logPath = filepath.Join(work, "events.jsonl")
	l.sock = filepath.Join(work, "bulwarkd.sock")
	cfg := fmt.Sprintf(`host: e2e-guest
cluster: e2e
gRPC: unix://%s
gRPCHealthPort: 0
logPath: %s
policyDir: %s
stateDir: %s
pidFile: %s
machineIDPath: %s
lsm: bpf
`, l.sock, l.logPath, l.policyDir, filepath.Join(work, "state"), filepath.Join(work, "bulwarkd.pid"),
		filepath.Join(work, "machine-id")) + extra
	cfgPath := filepath.Join(work, "bulwarkd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "machine-id"), []byte("e2e-node-id\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	art := t.ArtifactDir()
	_ = os.WriteFile(filepath.Join(art, "bulwarkd.yaml"), []byte(cfg), 0o644)
	stderr, err := os.Create(filepath.Join(art, "bulwarkd.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.cmd = exec.Command(bulwarkd, "--config", cfgPath)
	l.cmd.Stdout, l.cmd.Stderr = stderr, stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.exited = make(chan struct{})
	go func() { l.exitErr = l.cmd.Wait(); stderr.Close(); close(l.exited) }()
	t.Cleanup(func() {
		select {
		case <-l.exited:
		default:
			_ = l.cmd.Process.Kill()
			<-l.exited
		}
		if b, err := os.ReadFile(l.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(art, "events.jsonl"), b, 0o644)
		}
		var grpcLines []byte
		for _, a := range l.grpcAlerts() {
			j, _ := json.Marshal(a)
			grpcLines = append(append(grpcLines, j...), '\n')
		}
		_ = os.WriteFile(filepath.Join(art, "grpc-alerts.jsonl"), grpcLines, 0o644)
	})
	deadline := time.Now().Add(startBudget)
	for {
		select {
		case <-l.exited:
			b, _ := os.ReadFile(filepath.Join(art, "bulwarkd.log"))
			t.Fatalf("bulwarkd exited during start: %v\n%s", l.exitErr, b)
		default:
		}
		if _, err := os.Stat(l.sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(art, "bulwarkd.log"))
			t.Fatalf("bulwarkd not listening on %s after %v\n%s", l.sock, startBudget, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends bulwarkd SIGTERM and checks that it exits with status 0
// within 30 s.
func (l *lab) stop(t *testing.T) {
	t.Helper()
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("bulwarkd did not exit within 30 s of SIGTERM")
	}
	if l.exitErr != nil {
		t.Errorf("bulwarkd exited with %v, want status 0", l.exitErr)
	}
}

// watch subscribes to WatchAlerts and collects the alerts; it returns the
// connection (also used for ProbeService).
func (l *lab) watch(ctx context.Context) *grpc.ClientConn {
	t := l.t
	conn, err := grpc.NewClient("unix://"+l.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := feeder.NewLogServiceClient(conn).WatchAlerts(ctx, &feeder.RequestMessage{Filter: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			a, err := stream.Recv()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.grpcA = append(l.grpcA, a)
			l.mu.Unlock()
		}
	}()
	// The subscription is in place once bulwarkd says so.
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(t.ArtifactDir(), "bulwarkd.log"))
		if bytes.Contains(b, []byte(`msg="subscriber joined" component=server kind=alert`)) {
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("WatchAlerts subscription not seen by bulwarkd after 15 s\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBulwarkdBPFLSM runs the real bulwarkd with BPF-LSM on host policies
// scoped to the test's own files and helper, and checks each kind of
// enforcement by the syscall's result and its alert, in logPath and over
// gRPC; then that deleting a policy file lifts its rule, and that SIGTERM
// ends enforcement with exit status 0.
//
// Safety: every Block rule names the test's files or has fromSource the
// test's helper. The DefaultPosture case puts the host's network class in
// allow-list mode (the engine does so for any Allow rule, whatever its
// fromSource) with hostDefaultNetworkPosture block, for that subtest only;
// its Allow rules permit stream, datagram, seqpacket and raw sockets to
// bulwarkd, the test binary and the CLI (the guest runs nothing else
// meanwhile), so only the helper falls to the posture.
func TestBulwarkdBPFLSM(t *testing.T) {
	if _, err := os.Stat(bulwarkd); err != nil {
		t.Fatalf("no %s in the guest: %v", bulwarkd, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &lab{t: t, dir: guest.SharedTempDir(t)}
	l.policyDir = filepath.Join(t.TempDir(), "policies")
	if err := os.MkdirAll(l.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	guest.CopyFile(t, self, l.path("helper"), 0o755)
	guest.CopyFile(t, self, l.path("target"), 0o755)
	for _, f := range []string{"secret", "ro", "audited", "owned"} {
		if err := os.WriteFile(l.path(f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Before bulwarkd: every operation works (or, rdm, is not supported).
	for op, want := range map[string]syscall.Errno{"exec DIR/target": 0, "open DIR/secret": 0, "write DIR/ro": 0,
		"udp": 0, "chown DIR/owned": 0} {
		if e, _ := l.helper(strings.ReplaceAll(op, "DIR", l.dir)); syscall.Errno(e) != want {
			t.Fatalf("before bulwarkd: %s: errno %v, want %v", op, syscall.Errno(e), want)
		}
	}
	if err := os.Chown(l.path("owned"), 0, 0); err != nil {
		t.Fatal(err)
	}

	l.writePolicy("exec.yaml", "hsp-e2e-exec", "5", `  process:
    matchPaths:
      - path: DIR/target
        fromSource:
          - path: DIR/helper
  action: Block
`)
	l.writePolicy("file.yaml", "hsp-e2e-file", "6", `  file:
    matchPaths:
      - path: DIR/secret
      - path: DIR/ro
        readOnly: true
  action: Block
`)
	l.writePolicy("audit.yaml", "hsp-e2e-audit", "2", `  file:
    matchPaths:
      - path: DIR/audited
  action: Audit
`)
	l.writePolicy("network.yaml", "hsp-e2e-network", "7", `  network:
    matchProtocols:
      - protocol: udp
        fromSource:
          - path: DIR/helper
  action: Block
`)
	l.writePolicy("capabilities.yaml", "hsp-e2e-capabilities", "8", `  capabilities:
    matchCapabilities:
      - capability: chown
        fromSource:
          - path: DIR/helper
  action: Block
`)

	l.metrics = "127.0.0.1:" + strconv.Itoa(freePort(t))
	l.start(`enableKubeArmorHostPolicy: true
enableKubeArmorPolicy: false
hostDefaultNetworkPosture: block
metricsAddr: ` + l.metrics + `
# The monitor runs beside the enforcer: host process telemetry only, so
# that the alerts checked here can only come from BPF-LSM in the kernel.
visibility: none
hostVisibility: process
`)
	conn := l.watch(ctx)
	helper, target := l.path("helper"), l.path("target")
	blocked := want{Type: "MatchedHostPolicy", Enforcer: "BPFLSM", Action: "Block", Result: "Operation not permitted"}

	t.Run("probe_shows_BPFLSM", func(t *testing.T) {
		var hdr metadata.MD
		resp, err := policypb.NewProbeServiceClient(conn).GetProbeData(ctx, &emptypb.Empty{}, grpc.Header(&hdr))
		if err != nil {
			t.Fatal(err)
		}
		if got := hdr.Get("bulwark-enforcer"); len(got) != 1 || got[0] != "BPFLSM" {
			t.Errorf("enforcer header %q, want BPFLSM", got)
		}
		if got := resp.GetHostMap()["e2e-guest"].GetPolicyList(); len(got) != 5 {
			t.Errorf("host policies %v, want the test's 5", got)
		}
	})

	t.Run("process_telemetry", func(t *testing.T) {
		// The monitor's exec event for an allowed helper run, enriched as a
		// KubeArmor HostLog, with the enforcer's programs attached too.
		_, pid := l.helper("open " + l.path("owned"))
		w := want{Type: "HostLog", Operation: "Process", Resource: helper, ProcessName: helper, HostPID: pid}
		deadline := time.Now().Add(15 * time.Second)
		for !anyMatch(l.logRecords("HostLog"), w) {
			if time.Now().After(deadline) {
				t.Fatalf("no log %v in logPath within 15 s", w)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("exec_block", func(t *testing.T) {
		if !l.eventually("exec "+target, syscall.EPERM, 10*time.Second) {
			t.Fatal("exec of the blocked target did not fail with EPERM")
		}
		e, pid := l.helper("exec " + target)
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("exec: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Severity, w.Operation, w.Resource = "hsp-e2e-exec", "5", "Process", target
		w.ProcessName, w.ParentProcessName, w.HostPPID = target, helper, pid
		l.expectAlert(w)
	})

	t.Run("file_read_block", func(t *testing.T) {
		e, pid := l.helper("open " + l.path("secret"))
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("open: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Severity, w.Operation, w.Resource = "hsp-e2e-file", "6", "File", l.path("secret")
		w.ProcessName, w.HostPID = helper, pid
		l.expectAlert(w)
	})

	t.Run("file_readonly_write_block", func(t *testing.T) {
		if e, _ := l.helper("open " + l.path("ro")); e != 0 {
			t.Errorf("read of the readOnly file: errno %v, want success", syscall.Errno(e))
		}
		e, pid := l.helper("write " + l.path("ro"))
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("write: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Severity, w.Operation, w.Resource = "hsp-e2e-file", "6", "File", l.path("ro")
		w.ProcessName, w.HostPID = helper, pid
		l.expectAlert(w)
	})

	t.Run("network_block", func(t *testing.T) {
		e, pid := l.helper("udp")
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("udp socket: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Severity, w.Operation = "hsp-e2e-network", "7", "Network"
		w.Resource = "domain=AF_INET type=SOCK_DGRAM protocol=UDP"
		w.ProcessName, w.HostPID = helper, pid
		l.expectAlert(w)
	})

	t.Run("capability_block", func(t *testing.T) {
		e, pid := l.helper("chown " + l.path("owned"))
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("chown: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Severity, w.Operation, w.Resource = "hsp-e2e-capabilities", "8", "Capabilities", "CAP_CHOWN"
		w.ProcessName, w.HostPID = helper, pid
		l.expectAlert(w)
	})

	t.Run("audit", func(t *testing.T) {
		e, pid := l.helper("open " + l.path("audited"))
		if e != 0 {
			t.Fatalf("open of the audited file: errno %v, want success", syscall.Errno(e))
		}
		l.expectAlert(want{Type: "MatchedHostPolicy", PolicyName: "hsp-e2e-audit", Severity: "2", Operation: "File",
			Resource: l.path("audited"), Enforcer: "BPFLSM", Action: "Audit", Result: "Passed",
			ProcessName: helper, HostPID: pid})
	})

	t.Run("default_posture_block", func(t *testing.T) {
		// Host network rules need fromSource paths: the programs that
		// use sockets meanwhile (bulwarkd, this test, the CLI) may open the
		// usual kinds; the helper may open none. The policy is removed
		// again at the end.
		var sources strings.Builder
		for _, p := range []string{bulwarkd, self, "/usr/local/bin/bulwark"} {
			fmt.Fprintf(&sources, "          - path: %s\n", p)
		}
		var rules strings.Builder
		for _, p := range []string{"stream", "dgram", "seqpacket", "raw"} {
			fmt.Fprintf(&rules, "      - protocol: %s\n        fromSource:\n%s", p, sources.String())
		}
		l.writePolicy("posture.yaml", "hsp-e2e-posture", "1", "  network:\n    matchProtocols:\n"+rules.String()+"  action: Allow\n")
		defer func() {
			_ = os.Remove(filepath.Join(l.policyDir, "posture.yaml"))
			if !l.eventuallyNot("rdm", syscall.EPERM, 5*time.Second) {
				t.Error("SOCK_RDM still denied 5 s after the allow-list policy was deleted")
			}
		}()
		if !l.eventually("rdm", syscall.EPERM, 5*time.Second) {
			t.Fatal("SOCK_RDM socket not denied by the block posture within 5 s")
		}
		e, pid := l.helper("rdm")
		if syscall.Errno(e) != syscall.EPERM {
			t.Fatalf("SOCK_RDM socket: errno %v, want EPERM", syscall.Errno(e))
		}
		w := blocked
		w.PolicyName, w.Operation = "DefaultPosture", "Network"
		w.Resource = "domain=AF_INET type=SOCK_RDM protocol=0"
		w.ProcessName, w.HostPID = helper, pid
		l.expectAlert(w)
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + l.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		_ = os.WriteFile(filepath.Join(t.ArtifactDir(), "metrics.txt"), body, 0o644)
		values := map[string]float64{}
		for line := range strings.Lines(string(body)) {
			if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "bulwark_enforcer_") {
				v, _ := strconv.ParseFloat(f[1], 64)
				values[f[0]] = v
			}
		}
		for _, m := range []string{"bulwark_enforcer_decisions_total", "bulwark_enforcer_denials_total",
			"bulwark_enforcer_events_total", `bulwark_enforcer_events_read_total{result="ok"}`,
			`bulwark_enforcer_map_entries{map="workloads"}`, `bulwark_enforcer_map_entries{map="rules"}`} {
			if values[m] < 1 {
				t.Errorf("%s = %v, want > 0", m, values[m])
			}
		}
		for _, m := range []string{"bulwark_enforcer_ringbuf_full_drops_total", `bulwark_enforcer_throttled_total{scope="rule"}`,
			`bulwark_enforcer_map_capacity{map="rules"}`} {
			if _, ok := values[m]; !ok {
				t.Errorf("%s missing", m)
			}
		}
	})

	t.Run("policy_deletion_lifts_block", func(t *testing.T) {
		if err := os.Remove(filepath.Join(l.policyDir, "exec.yaml")); err != nil {
			t.Fatal(err)
		}
		if !l.eventually("exec "+target, 0, 5*time.Second) {
			t.Fatal("exec still denied 5 s after its policy file was deleted")
		}
		// The other rules stay.
		if e, _ := l.helper("open " + l.path("secret")); syscall.Errno(e) != syscall.EPERM {
			t.Errorf("open of the secret after another policy's deletion: errno %v, want EPERM", syscall.Errno(e))
		}
	})

	t.Run("sigterm_ends_enforcement", func(t *testing.T) {
		l.stop(t)
		for _, op := range []string{"exec " + target, "open " + l.path("secret"), "write " + l.path("ro"), "udp",
			"chown " + l.path("owned")} {
			if e, _ := l.helper(op); e != 0 {
				t.Errorf("after SIGTERM: %s: errno %v, want success", op, syscall.Errno(e))
			}
		}
		if e, _ := l.helper("rdm"); syscall.Errno(e) == syscall.EPERM {
			t.Errorf("after SIGTERM: SOCK_RDM socket still denied by the posture")
		}
	})
}
