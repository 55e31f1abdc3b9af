package cli

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/certs"
	"github.com/bulwark-security/bulwark/internal/pipeline"
	"github.com/bulwark-security/bulwark/internal/server"
)

// agent runs a real pipeline and gRPC server on 127.0.0.1.
func logsAgent(t *testing.T, o server.Options) (*pipeline.Pipeline, string) {
	t.Helper()
	p, err := pipeline.New(pipeline.Options{Throttle: pipeline.ThrottleOptions{Enabled: new(false)}, HostName: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Address == "" {
		o.Address = "127.0.0.1:0"
	}
	o.Pipeline = p
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = p.Start(ctx); done <- struct{}{} }()
	go func() { _ = srv.Start(ctx); done <- struct{}{} }()
	<-srv.Ready()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return p, srv.Addr().String()
}

// publishWhenSubscribed publishes records once n subscribers of kind are
// connected.
func logsPublishWhenSubscribed(t *testing.T, p *pipeline.Pipeline, subs map[pipeline.Kind]int, alerts []*feeder.Alert, logs []*feeder.Log) {
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			ok := true
			for k, n := range subs {
				ok = ok && p.Subscribers(k) >= n
			}
			if ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for _, a := range alerts {
			p.PublishAlert(a)
		}
		for _, l := range logs {
			p.PublishLog(l)
		}
	}()
}

func logsSampleAlerts() []*feeder.Alert {
	return []*feeder.Alert{
		{UpdatedTime: "2026-01-02T03:04:05.000001Z", Type: "MatchedPolicy", Action: "Block", Operation: "File",
			Resource: "/etc/shadow", Source: "/bin/cat /etc/shadow", ProcessName: "/bin/cat", NamespaceName: "web", PodName: "nginx-1",
			ContainerName: "nginx", ContainerID: "c0ffee", PolicyName: "block-shadow"},
		{Type: "MatchedPolicy", Action: "Audit", Operation: "Process", Resource: "/usr/bin/apt", Source: "/bin/sh",
			ProcessName: "/usr/bin/apt", NamespaceName: "db", PodName: "pg-0", ContainerName: "pg", ContainerID: "beef", PolicyName: "audit-apt"},
		{Type: "MatchedHostPolicy", Action: "Block", Operation: "Process", Resource: "/usr/bin/sleep", Source: "/bin/bash",
			ProcessName: "/usr/bin/sleep", PolicyName: "host-sleep"},
	}
}

func logsSampleLogs() []*feeder.Log {
	return []*feeder.Log{
		{Type: "ContainerLog", Operation: "Network", Resource: "remoteip=10.0.0.1 port=80", Source: "/usr/bin/curl",
			NamespaceName: "web", PodName: "nginx-1", ContainerName: "nginx", ContainerID: "c0ffee", Result: "Passed"},
		{Type: "HostLog", Operation: "File", Resource: "/etc/hosts", Source: "/usr/bin/cat", Result: "Passed"},
	}
}

func TestLogsText(t *testing.T) {
	p, addr := logsAgent(t, server.Options{})
	logsPublishWhenSubscribed(t, p, map[pipeline.Kind]int{pipeline.KindAlert: 1}, logsSampleAlerts(), nil)
	code, out, errOut := run(t, "", "logs", "--gRPC", addr, "--limit", "3")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), out)
	}
	want := `2026-01-02T03:04:05.000001Z MatchedPolicy Block File /etc/shadow process=/bin/cat workload=web/nginx-1/nginx policy=block-shadow`
	if lines[0] != want {
		t.Errorf("line 1:\n got %s\nwant %s", lines[0], want)
	}
	if !strings.Contains(lines[2], "workload=host:node-1 policy=host-sleep") {
		t.Errorf("host alert line: %s", lines[2])
	}
}

func TestLogsJSONAndFilters(t *testing.T) {
	p, addr := logsAgent(t, server.Options{})
	tests := []struct {
		name  string
		args  []string
		subs  map[pipeline.Kind]int
		types []string // Type of each printed record, in order within a kind
	}{
		{"all, json", []string{"--logFilter", "all", "--json", "--limit", "5"},
			map[pipeline.Kind]int{pipeline.KindAlert: 1, pipeline.KindLog: 1},
			[]string{"MatchedPolicy", "MatchedPolicy", "MatchedHostPolicy", "ContainerLog", "HostLog"}},
		{"namespace", []string{"--logFilter", "all", "-o", "json", "-n", "web", "--limit", "2"},
			map[pipeline.Kind]int{pipeline.KindAlert: 1, pipeline.KindLog: 1}, []string{"MatchedPolicy", "ContainerLog"}},
		{"operation and policy", []string{"-o", "json", "--operation", "process", "--policy", "host-sleep", "--limit", "1"},
			map[pipeline.Kind]int{pipeline.KindAlert: 1}, []string{"MatchedHostPolicy"}},
		{"resource regex", []string{"-o", "json", "--resource", `^/usr/bin/(apt|dnf)$`, "--limit", "1"},
			map[pipeline.Kind]int{pipeline.KindAlert: 1}, []string{"MatchedPolicy"}},
		{"source regex and pod", []string{"-o", "pretty-json", "--logFilter", "system", "--source", "curl", "--pod", "nginx-1", "--limit", "1"},
			map[pipeline.Kind]int{pipeline.KindLog: 1}, []string{"ContainerLog"}},
		{"container", []string{"--json", "--container", "pg", "--limit", "1"},
			map[pipeline.Kind]int{pipeline.KindAlert: 1}, []string{"MatchedPolicy"}},
		{"host logs", []string{"--json", "--logFilter", "system", "--logType", "HostLog", "--limit", "1"},
			map[pipeline.Kind]int{pipeline.KindLog: 1}, []string{"HostLog"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logsEventually(t, "previous subscribers to leave", func() bool {
				return p.Subscribers(pipeline.KindAlert)+p.Subscribers(pipeline.KindLog) == 0
			})
			logsPublishWhenSubscribed(t, p, tt.subs, logsSampleAlerts(), logsSampleLogs())
			code, out, errOut := run(t, "", append([]string{"logs", "--gRPC", addr}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			dec := json.NewDecoder(strings.NewReader(out))
			var got []string
			for dec.More() {
				var rec map[string]any
				if err := dec.Decode(&rec); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if _, ok := rec["UpdatedTime"]; !ok {
					t.Errorf("record lacks KubeArmor field names: %v", rec)
				}
				got = append(got, rec["Type"].(string))
			}
			if !logsSameMultiset(got, tt.types) {
				t.Errorf("printed types %v, want %v\n%s", got, tt.types, out)
			}
		})
	}
}

func TestLogsUsageAndFailures(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--logFilter", "everything"}, ExitUsage, "--logFilter"},
		{[]string{"-o", "xml"}, ExitUsage, "--output"},
		{[]string{"--json", "-o", "text"}, ExitUsage, "--json conflicts"},
		{[]string{"--resource", "("}, ExitUsage, "--resource"},
		{[]string{"--limit", "-1"}, ExitUsage, "--limit"},
		{[]string{"--logType", "PodLog"}, ExitUsage, "--logType"},
		{[]string{"--tls-cert", "x.pem"}, ExitUsage, "--tls-key"},
		{[]string{"extra"}, ExitUsage, "takes no arguments"},
		{[]string{"--gRPC", closed}, ExitFailure, closed},
	} {
		code, out, errOut := run(t, "", append([]string{"logs"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.msg) {
			t.Errorf("logs %v: exit %d, %q; want %d and %q", tc.args, code, out+errOut, tc.code, tc.msg)
		}
	}
}

func TestLogsAddressFromEnvironmentAndMTLS(t *testing.T) {
	// The agent's tlsCertProvider self material.
	dir := t.TempDir()
	if _, err := certs.Ensure(dir, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	p, addr := logsAgent(t, server.Options{CertFile: file(certs.ServerCert), KeyFile: file(certs.ServerKey), ClientCAFile: file(certs.CACert)})
	t.Setenv(logsAddressEnv, addr)

	code, _, errOut := run(t, "", "logs", "--tls-ca", file(certs.CACert), "--limit", "1")
	if code != ExitFailure {
		t.Errorf("without a client certificate: exit %d (%s), want %d", code, errOut, ExitFailure)
	}
	for _, args := range [][]string{
		{"--tls-ca", file(certs.CACert), "--tls-cert", file(certs.ClientCert), "--tls-key", file(certs.ClientKey)},
		{"--tlsCertPath", dir},
	} {
		// A new subscription, not the previous client's lingering one.
		logsEventually(t, "no subscriber", func() bool { return p.Subscribers(pipeline.KindAlert) == 0 })
		logsPublishWhenSubscribed(t, p, map[pipeline.Kind]int{pipeline.KindAlert: 1}, logsSampleAlerts()[:1], nil)
		code, out, errOut := run(t, "", append([]string{"logs", "--limit", "1"}, args...)...)
		if code != ExitOK || !strings.Contains(out, "policy=block-shadow") {
			t.Errorf("mTLS with %v: exit %d, %q, %q", args, code, out, errOut)
		}
	}
	if code, _, errOut := run(t, "", "logs", "--tlsCertPath", dir, "--tls-ca", file(certs.CACert)); code != ExitUsage || !strings.Contains(errOut, "conflicts") {
		t.Errorf("--tlsCertPath with --tls-ca: exit %d, %q", code, errOut)
	}
}

func logsSameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func logsEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
