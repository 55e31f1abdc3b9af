package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/certs"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// TestSelfTLS: with tlsEnabled and tlsCertProvider self (upstream's
// default), bulwarkd generates its CA and pairs and serves gRPC with mTLS;
// a client with the generated client pair is served, one without is not.
func TestSelfTLS(t *testing.T) {
	dir := rootTempDir(t, "bwtls", "needs root: bulwarkd probes BPF")
	socket, tlsDir := filepath.Join(dir, "b.sock"), filepath.Join(dir, "tls")
	cfgFile := filepath.Join(dir, "bulwarkd.yaml")
	write(t, cfgFile, testConfig(dir, socket, "none", "", "tlsEnabled: true\ntlsCertPath: "+tlsDir+"\nvisibility: none\nhostVisibility: none\n"))
	cfg, err := config.Load(config.Options{File: cfgFile})
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	a, err := agent.New(agent.Options{Config: cfg, NoSignal: true, Components: agent.DefaultComponents,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Enforcers: map[string]agent.EnforcerFactory{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := startAgent(t, ctx, a, &logs)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()
	for _, f := range []string{certs.CACert, certs.CAKey, certs.ServerCert, certs.ServerKey, certs.ClientCert, certs.ClientKey} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err != nil {
			t.Errorf("%s not generated: %v", f, err)
		}
	}
	eventually(t, "TLS material generated and mTLS served, in the log", settle, func() bool {
		return strings.Contains(logs.String(), `msg="TLS material generated"`) && strings.Contains(logs.String(), "mtls=true")
	})

	ca, err := os.ReadFile(filepath.Join(tlsDir, certs.CACert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	health := func(tc *tls.Config) error {
		conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_, err = feeder.NewLogServiceClient(conn).HealthCheck(cctx, &feeder.NonceMessage{Nonce: 7})
		return err
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, certs.ClientCert), filepath.Join(tlsDir, certs.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := health(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}); err != nil {
		t.Errorf("with the generated client pair: %v", err)
	}
	if err := health(&tls.Config{RootCAs: pool}); err == nil {
		t.Error("served a client without a certificate")
	}
}
