package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwark-security/bulwark/internal/certs"
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

// newPKI is a CA with a server pair (localhost, the loopback addresses and
// serverIPs) and a client pair, as tlsCertProvider self makes them.
func newPKI(t testing.TB, serverIPs ...net.IP) *pki {
	t.Helper()
	dir := t.TempDir()
	var names []string
	for _, ip := range serverIPs {
		names = append(names, ip.String())
	}
	if _, err := certs.Ensure(dir, certs.Options{Names: names}); err != nil {
		t.Fatal(err)
	}
	file := func(name string) string { return filepath.Join(dir, name) }
	k := &pki{caFile: file(certs.CACert), serverCert: file(certs.ServerCert), serverKey: file(certs.ServerKey),
		clientCert: file(certs.ClientCert), clientKey: file(certs.ClientKey), pool: x509.NewCertPool()}
	ca, err := os.ReadFile(k.caFile)
	if err != nil {
		t.Fatal(err)
	}
	k.pool.AppendCertsFromPEM(ca)
	if k.client, err = tls.LoadX509KeyPair(k.clientCert, k.clientKey); err != nil {
		t.Fatal(err)
	}
	return k
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
