package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/certs"
)

func TestEnsureGeneratesAndKeeps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	res, err := certs.Ensure(dir, certs.Options{Names: []string{"node-1", "10.0.0.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Generated) != 6 {
		t.Errorf("generated %v, want all six files", res.Generated)
	}
	for _, f := range []string{certs.CAKey, certs.ServerKey, certs.ClientKey} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, st.Mode(), err)
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode())
	}
	server := loadCert(t, dir, certs.ServerCert)
	for _, n := range []string{"localhost", "127.0.0.1", "::1", "node-1", "10.0.0.7"} {
		if err := server.VerifyHostname(n); err != nil {
			t.Errorf("server certificate: %v", err)
		}
	}

	// A second run with the same names changes nothing.
	res, err = certs.Ensure(dir, certs.Options{Names: []string{"10.0.0.7", "node-1"}})
	if err != nil || len(res.Generated) != 0 {
		t.Errorf("second run generated %v (%v), want nothing", res.Generated, err)
	}
	// A new name reissues the server certificate only, from the same CA.
	res, err = certs.Ensure(dir, certs.Options{Names: []string{"node-1", "10.0.0.7", "node-1.example"}})
	if err != nil || !slices.Equal(res.Generated, []string{certs.ServerCert, certs.ServerKey}) {
		t.Errorf("new name generated %v (%v), want the server pair", res.Generated, err)
	}
	// Close to expiry everything is renewed: the CA (10 years) too when
	// the clock says so.
	res, err = certs.Ensure(dir, certs.Options{Names: []string{"node-1"}, Now: func() time.Time { return time.Now().Add(364 * 24 * time.Hour) }})
	if err != nil || !slices.Equal(res.Generated, []string{certs.ServerCert, certs.ServerKey, certs.ClientCert, certs.ClientKey}) {
		t.Errorf("near leaf expiry generated %v (%v), want both leaves", res.Generated, err)
	}
	res, err = certs.Ensure(dir, certs.Options{Now: func() time.Time { return time.Now().Add(10 * 365 * 24 * time.Hour) }})
	if err != nil || len(res.Generated) != 6 {
		t.Errorf("near CA expiry generated %v (%v), want all six", res.Generated, err)
	}
}

func TestEnsureRefusesForeignCertificates(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{certs.ServerCert, certs.ServerKey} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("managed elsewhere"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := certs.Ensure(dir, certs.Options{}); !errors.Is(err, certs.ErrForeign) {
		t.Fatalf("Ensure over foreign files: %v, want ErrForeign", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, certs.ServerCert)); string(b) != "managed elsewhere" {
		t.Error("foreign certificate overwritten")
	}
}

// TestMutualTLS: a client with the generated client pair talks to a server
// with the generated server pair; one without a client certificate is
// refused.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Ensure(dir, certs.Options{}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(loadCert(t, dir, certs.CACert))
	serverPair := loadPair(t, dir, certs.ServerCert, certs.ServerKey)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	dial := func(withClientCert bool) error {
		cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
		if withClientCert {
			cfg.Certificates = []tls.Certificate{loadPair(t, dir, certs.ClientCert, certs.ClientKey)}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.ReadAll(c)
		return err
	}
	if err := dial(true); err != nil {
		t.Errorf("client with the generated pair: %v", err)
	}
	if err := dial(false); err == nil {
		t.Error("client without a certificate was served")
	}
}

func loadCert(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: not PEM", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadPair(t *testing.T, dir, cert, key string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, cert), filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}
