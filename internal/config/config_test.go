package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/bulwark-security/bulwark/internal/engine"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fixedHost() (string, error) { return "node-1", nil }

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefaultsHostMode(t *testing.T) {
	c, err := Load(Options{Hostname: fixedHost})
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "node-1" || c.GRPC != "127.0.0.1:32767" || c.GRPCHealthPort != 32766 || c.LogPath != "none" || c.Cluster != "default" {
		t.Errorf("defaults: %+v", c)
	}
	if c.K8s || !c.EnableKubeArmorHostPolicy || !c.EnableKubeArmorPolicy {
		t.Errorf("host mode: k8s=%v hostPolicy=%v", c.K8s, c.EnableKubeArmorHostPolicy)
	}
	if !slices.Equal(c.HostVisibility, []string{"process", "file", "network", "capabilities"}) {
		t.Errorf("hostVisibility = %v", c.HostVisibility)
	}
	if c.HostPostures() != (engine.Postures{File: "audit", Network: "audit", Capabilities: "audit"}) {
		t.Errorf("postures = %+v", c.HostPostures())
	}
	if !slices.Equal(c.LSM, []string{"bpf", "apparmor", "selinux"}) || c.Enforcer != "auto" {
		t.Errorf("lsm = %v enforcer = %s", c.LSM, c.Enforcer)
	}
	if c.Origin("gRPC").Source != SourceDefault {
		t.Errorf("origin = %v", c.Origin("gRPC"))
	}
	if c.BPFMaxWorkloads != 4096 || c.BPFMaxRuleEntries != 262144 || c.BPFMaxDFARows != 8192 {
		t.Errorf("BPF map sizes %d %d %d", c.BPFMaxWorkloads, c.BPFMaxRuleEntries, c.BPFMaxDFARows)
	}
}

func TestBPFMapSizes(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", "bpfMaxDFARows: 65536\nbpfMaxWorkloads: 8\n")
	_, err := Load(Options{File: f, Hostname: fixedHost})
	if err == nil || !strings.Contains(err.Error(), f+":2:18: bpfMaxWorkloads: 8 is out of range 16-1048576") {
		t.Fatalf("too few workloads: %v", err)
	}
	f = writeFile(t, t.TempDir(), "c.yaml", "bpfMaxDFARows: 65536\n")
	c, err := Load(Options{File: f, Hostname: fixedHost})
	if err != nil || c.BPFMaxDFARows != 65536 {
		t.Fatalf("bpfMaxDFARows: %v %v", c, err)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "bulwarkd.yaml", `
cluster: from-file
gRPC: 1111
logPath: stdout
hostDefaultFilePosture: block
hostDefaultNetworkPosture: block
`)
	env := []string{"BULWARK_GRPC=2222", "BULWARK_LOGPATH=/var/log/bulwark.json", "PATH=/bin"}
	c, err := Load(Options{File: file, Environ: env, Flags: flags(t, "--gRPC=3333", "--hostDefaultNetworkPosture=audit"), Hostname: fixedHost})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ key, want string }{
		{"cluster", "from-file"},                    // file > default
		{"gRPC", "127.0.0.1:3333"},                  // flag > env > file
		{"logPath", "/var/log/bulwark.json"},        // env > file
		{"hostDefaultFilePosture", "block"},         // file
		{"hostDefaultNetworkPosture", "audit"},      // flag > file
		{"hostDefaultCapabilitiesPosture", "audit"}, // default
	}
	for _, ch := range checks {
		if v, _ := c.Value(ch.key); v != ch.want {
			t.Errorf("%s = %q, want %q (from %v)", ch.key, v, ch.want, c.Origin(ch.key))
		}
	}
	if o := c.Origin("gRPC"); o.Source != SourceFlag || o.String() != "flag --gRPC" {
		t.Errorf("gRPC origin = %v", o)
	}
	if o := c.Origin("logPath"); o.String() != "environment BULWARK_LOGPATH" {
		t.Errorf("logPath origin = %v", o)
	}
	if o := c.Origin("cluster"); o.String() != file+":2:10" {
		t.Errorf("cluster origin = %v", o)
	}
}

func TestGRPCForms(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"gRPC: 32767", "127.0.0.1:32767"},
		{`gRPC: "32767"`, "127.0.0.1:32767"},
		{"gRPC: 0", "127.0.0.1:0"},
		{`gRPC: ":32767"`, ":32767"},
		{`gRPC: "127.0.0.1:4000"`, "127.0.0.1:4000"},
		{`gRPC: "[::1]:4000"`, "[::1]:4000"},
		{`gRPC: "unix:///run/bulwark/bulwarkd.sock"`, "unix:///run/bulwark/bulwarkd.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "c.yaml", tt.yaml+"\n")
			c, err := Load(Options{File: f, Hostname: fixedHost})
			if err != nil {
				t.Fatal(err)
			}
			if c.GRPC != tt.want {
				t.Errorf("gRPC = %q, want %q", c.GRPC, tt.want)
			}
		})
	}
	c, _ := Load(Options{Environ: []string{"BULWARK_GRPC=unix:///tmp/b.sock"}, Hostname: fixedHost})
	if n, a := c.GRPCListen(); n != "unix" || a != "/tmp/b.sock" {
		t.Errorf("GRPCListen = %s %s", n, a)
	}
}

func TestValidationErrors(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "bad.yaml", `cluster: ok
grpc_port: 1
gRPC: 70000
defaultFilePosture: deny
hostVisibility: process,files
visibility: [process, none]
lsm: bpf,tomoyo
alertThrottling: maybe
maxAlertPerSec: 0
logPath: relative.log
gRPCHealthPort: "x"
tlsCertProvider: vault
bpfFsPath: sys/fs/bpf
hostDefaultNetworkPosture: {a: b}
enforcer: landlock
hostDefaultFileposture: audit
`)
	_, err := Load(Options{File: file, Hostname: fixedHost})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		file + ":2:1: grpc_port: unknown key",
		file + ":3:7: gRPC: invalid port 70000: must be 0-65535",
		file + `:4:21: defaultFilePosture: invalid posture "deny": must be audit or block`,
		file + `:5:17: hostVisibility: invalid visibility "files"`,
		file + ":6:13: visibility: none cannot be combined",
		file + `:7:6: lsm: invalid LSM "tomoyo"`,
		file + `:8:18: alertThrottling: "maybe" is not a boolean`,
		file + ":9:17: maxAlertPerSec: 0 is out of range",
		file + `:10:10: logPath: must be stdout, none or an absolute file path: path "relative.log" is not absolute`,
		file + `:11:17: gRPCHealthPort: "x" is not an integer`,
		file + `:12:18: tlsCertProvider: invalid value "vault"`,
		file + `:13:12: bpfFsPath: path "sys/fs/bpf" is not absolute`,
		file + ":14:28: hostDefaultNetworkPosture: value must be a scalar or a list",
		file + `:15:11: enforcer: invalid value "landlock": must be one of auto, bpf, apparmor, none`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q", w)
		}
	}
	// Keys match case-insensitively, as with viper upstream.
	if strings.Contains(msg, "hostDefaultFileposture") {
		t.Errorf("case-insensitive key rejected: %s", msg)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Origin.File != file {
		t.Errorf("errors.As *Error: %v", ce)
	}
	if t.Failed() {
		t.Logf("got:\n%s", msg)
	}
}

func TestValidationErrorsOtherSources(t *testing.T) {
	_, err := Load(Options{Hostname: fixedHost,
		Environ: []string{"BULWARK_DEFAULTNETWORKPOSTURE=allow", "BULWARK_NOSUCHKEY=1"},
		Flags:   flags(t, "--gRPC=abc", "--gRPCHealthPort=32767")})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`environment BULWARK_DEFAULTNETWORKPOSTURE: defaultNetworkPosture: invalid posture "allow"`,
		`flag --gRPC: gRPC: invalid port "abc"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	_, err = Load(Options{Hostname: fixedHost, Flags: flags(t, "--gRPCHealthPort=32767")})
	if err == nil || !strings.Contains(err.Error(), "flag --gRPCHealthPort: gRPCHealthPort: port 32767 is also the gRPC port") {
		t.Errorf("port clash: %v", err)
	}
	c, err := Load(Options{Hostname: fixedHost, Environ: []string{"BULWARK_NOSUCHKEY=1"}})
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "BULWARK_NOSUCHKEY") {
		t.Errorf("unknown env: %v %v", err, c.Warnings)
	}
	for _, tt := range []struct{ content, want string }{
		{"- a\n- b\n", "1:1: the configuration must be a mapping"},
		{"a: [\n", "invalid YAML"},
		{"cluster: a\ncluster: b\n", "2:1: cluster: duplicate key"},
		{"k8s: true\n", "k8s: kubernetes mode is not supported yet"},
		{"lsm: none,bpf\n", "1:6: lsm: none cannot be combined"},
	} {
		f := writeFile(t, t.TempDir(), "c.yaml", tt.content)
		if _, err := Load(Options{File: f, Hostname: fixedHost}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.content, err, tt.want)
		}
	}
	if _, err := Load(Options{File: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Error("missing file accepted")
	}
}

func TestListsAndAliases(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", "lsm: [apparmor, BPF]\nuntrackedNs: a, b\nhostVisibility: none\nlsmx: 1\n")
	_, err := Load(Options{File: f, Hostname: fixedHost})
	if err == nil || !strings.Contains(err.Error(), "lsmx: unknown key (did you mean lsm?)") {
		t.Fatalf("suggestion: %v", err)
	}
	f = writeFile(t, t.TempDir(), "c.yaml", "lsm: [apparmor, BPF]\nuntrackedNs: a, b\nhostVisibility: none\n")
	c, err := Load(Options{File: f, Hostname: fixedHost, Flags: flags(t, "--policy-dir", "/srv/policies", "--tlsEnabled")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.LSM, []string{"apparmor", "bpf"}) || !slices.Equal(c.UntrackedNs, []string{"a", "b"}) ||
		!slices.Equal(c.HostVisibility, []string{"none"}) || c.PolicyDir != "/srv/policies" || !c.TLSEnabled {
		t.Errorf("got lsm=%v ns=%v hv=%v dir=%s tls=%v", c.LSM, c.UntrackedNs, c.HostVisibility, c.PolicyDir, c.TLSEnabled)
	}
	c, err = Load(Options{Hostname: fixedHost, Environ: []string{"BULWARK_LSM=none", "BULWARK_ENABLEKUBEARMORHOSTPOLICY=false"}})
	if err != nil || len(c.LSM) != 0 || c.EnableKubeArmorHostPolicy {
		t.Errorf("lsm none / explicit host policy false: %v %v %v", err, c.LSM, c.EnableKubeArmorHostPolicy)
	}
}

func TestDynamicKeys(t *testing.T) {
	d := DynamicKeys()
	for _, k := range []string{"hostDefaultFilePosture", "visibility", "alertThrottling", "maxAlertPerSec"} {
		if !slices.Contains(d, k) {
			t.Errorf("%s not dynamic", k)
		}
	}
	if slices.Contains(d, "gRPC") || slices.Contains(d, "policyDir") {
		t.Errorf("static keys listed as dynamic: %v", d)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchReload(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "bulwarkd.yaml", "hostDefaultFilePosture: audit\ngRPC: 32767\n")
	load := Options{File: file, Hostname: fixedHost}
	initial, err := Load(load)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes [][]string
	w := NewWatcher(initial, WatchOptions{Load: load, NoSignal: true, Debounce: 20 * time.Millisecond,
		OnChange: func(c *Config, changed []string) {
			mu.Lock()
			changes = append(changes, changed)
			mu.Unlock()
		}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	// Give the watcher time to set up its watch before the first edit; the
	// assertion below polls, so this only avoids a missed first event.
	time.Sleep(50 * time.Millisecond)

	// A valid change of a dynamic key (and a static one, which is ignored).
	writeFile(t, dir, "bulwarkd.yaml", "hostDefaultFilePosture: block\ngRPC: 4000\n")
	eventually(t, "reload", func() bool { return w.Current().HostDefaultFilePosture == engine.PostureBlock })
	if w.Current().GRPC != "127.0.0.1:32767" {
		t.Errorf("static key gRPC changed live to %s", w.Current().GRPC)
	}

	// An invalid file keeps the running configuration.
	writeFile(t, dir, "bulwarkd.yaml", "hostDefaultFilePosture: maybe\n")
	if _, err := w.Reload(); err == nil || !strings.Contains(err.Error(), "bulwarkd.yaml:1:25: hostDefaultFilePosture: invalid posture") {
		t.Errorf("reload of invalid file: %v", err)
	}
	if w.Current().HostDefaultFilePosture != engine.PostureBlock {
		t.Errorf("failed reload changed the configuration")
	}

	// Rename over the file, as editors do.
	tmp := writeFile(t, dir, ".bulwarkd.yaml.tmp", "hostDefaultFilePosture: block\nhostDefaultNetworkPosture: block\n")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reload after rename", func() bool { return w.Current().HostDefaultNetworkPosture == engine.PostureBlock })

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) < 2 || !slices.Equal(changes[0], []string{"hostDefaultFilePosture"}) {
		t.Errorf("changes = %v", changes)
	}
}

// The shipped example must stay valid.
func TestExampleConfig(t *testing.T) {
	c, err := Load(Options{File: "../../deploy/config/bulwarkd.yaml", Hostname: fixedHost})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPC != "127.0.0.1:32767" || c.HealthAddress() != "127.0.0.1:32766" || c.PIDFile != "/run/bulwark/bulwarkd.pid" {
		t.Errorf("example: gRPC %s health %s pid %s", c.GRPC, c.HealthAddress(), c.PIDFile)
	}
	c, _ = Load(Options{Hostname: fixedHost, Environ: []string{"BULWARK_GRPC=unix:///run/b.sock"}})
	if c.HealthAddress() != "127.0.0.1:32766" {
		t.Errorf("health next to a unix socket: %s", c.HealthAddress())
	}
	c, _ = Load(Options{Hostname: fixedHost, Environ: []string{"BULWARK_GRPC=:1234", "BULWARK_GRPCHEALTHPORT=0"}})
	if c.HealthAddress() != "" {
		t.Errorf("disabled health: %s", c.HealthAddress())
	}
}
