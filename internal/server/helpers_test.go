package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwark-security/bulwark/internal/pipeline"
)

// env is a running pipeline and server.
type env struct {
	p    *pipeline.Pipeline
	srv  *Server
	stop func() error
}

// start runs a pipeline and a server built from o (Pipeline is filled in).
func start(t testing.TB, o Options, po pipeline.Options) *env {
	t.Helper()
	p, err := pipeline.New(po)
	if err != nil {
		t.Fatal(err)
	}
	o.Pipeline = p
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	perr, serr := make(chan error, 1), make(chan error, 1)
	go func() { perr <- p.Start(ctx) }()
	go func() { serr <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-serr:
		cancel()
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	e := &env{p: p, srv: srv}
	e.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		var err error
		for _, c := range []chan error{serr, perr} {
			select {
			case e := <-c:
				if e != nil && err == nil {
					err = e
				}
			case <-time.After(15 * time.Second):
				t.Fatal("server or pipeline did not stop")
			}
		}
		return err
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return e
}

// target is the gRPC dial target of the server.
func (e *env) target() string {
	a := e.srv.Addr()
	if a.Network() == "unix" {
		return "unix://" + a.String()
	}
	return a.String()
}

func dial(t testing.TB, target string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	cc, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// pki is a throwaway CA with a server and a client certificate on disk.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
	client                                               tls.Certificate
}

func newPKI(t testing.TB, serverIPs ...net.IP) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey := mustKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bulwark test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	k := &pki{caFile: filepath.Join(dir, "ca.crt"), pool: x509.NewCertPool()}
	k.pool.AddCert(ca)
	writePEM(t, k.caFile, "CERTIFICATE", caDER)

	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string, tls.Certificate) {
		key := mustKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost"},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return certFile, keyFile, pair
	}
	ips := append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, serverIPs...)
	k.serverCert, k.serverKey, _ = issue("server", 2, x509.ExtKeyUsageServerAuth, ips)
	k.clientCert, k.clientKey, k.client = issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return k
}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// nonLoopbackIP returns an address of this machine that is not loopback,
// used only to listen on.
func nonLoopbackIP(t testing.TB) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("interface addresses: %v", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return nil
}
