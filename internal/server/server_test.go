package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/pipeline"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
)

// fakePolicies is a PolicyAPI for tests: it accepts ADDED requests and
// rejects anything else as invalid.
type fakePolicies struct{ got []string }

func (f *fakePolicies) ApplyPolicy(_ context.Context, class PolicyClass, req []byte) (policypb.PolicyStatus, error) {
	f.got = append(f.got, string(class)+" "+string(req))
	if strings.Contains(string(req), `"ADDED"`) {
		return policypb.PolicyStatus_Applied, nil
	}
	return policypb.PolicyStatus_Invalid, errors.New("spec.file.matchPaths[0].path: must be absolute")
}

func (f *fakePolicies) ProbeData(context.Context) (*policypb.ProbeResponse, error) {
	return &policypb.ProbeResponse{ContainerList: []string{"web"}}, nil
}

var quietPipeline = pipeline.Options{Throttle: pipeline.ThrottleOptions{Enabled: new(false)}}

func TestLogService(t *testing.T) {
	for _, tc := range []struct{ name, address string }{
		{"tcp", "127.0.0.1:0"},
		{"unix socket", "unix://" + filepath.Join(t.TempDir(), "run", "bulwark.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, Options{Address: tc.address}, quietPipeline)
			c := feeder.NewLogServiceClient(dial(t, e.target(), nil))
			ctx := t.Context()

			reply, err := c.HealthCheck(ctx, &feeder.NonceMessage{Nonce: 4242})
			if err != nil || reply.GetRetval() != 4242 {
				t.Fatalf("HealthCheck = %v, %v; want 4242", reply, err)
			}

			alerts := must(c.WatchAlerts(ctx, &feeder.RequestMessage{Filter: "policy"}))(t)
			all := must(c.WatchAlerts(ctx, &feeder.RequestMessage{Filter: "all"}))(t)
			logs := must(c.WatchLogs(ctx, &feeder.RequestMessage{Filter: "system"}))(t)
			msgs := must(c.WatchMessages(ctx, &feeder.RequestMessage{Filter: "all"}))(t)
			eventually(t, "subscriptions", func() bool {
				return e.p.Subscribers(pipeline.KindAlert) == 2 && e.p.Subscribers(pipeline.KindLog) == 1 &&
					e.p.Subscribers(pipeline.KindMessage) == 1
			})
			// A record protobuf cannot encode as it is (not UTF-8) is sent
			// repaired, and the streams live on.
			e.p.PublishAlert(&feeder.Alert{PolicyName: "bad-\xff", Action: "Block", Type: "MatchedPolicy"})
			e.p.PublishAlert(&feeder.Alert{PolicyName: "block-shadow", Action: "Block", Type: "MatchedPolicy"})
			e.p.PublishLog(&feeder.Log{Type: "ContainerLog", Operation: "Process"})
			e.p.PublishMessage(&feeder.Message{Level: "INFO", Message: "hello"})

			for _, s := range []grpc.ServerStreamingClient[feeder.Alert]{alerts, all} {
				if a, err := s.Recv(); err != nil || a.GetPolicyName() != "bad-\uFFFD" {
					t.Errorf("repaired alert = %v, %v", a, err)
				}
				a, err := s.Recv()
				if err != nil || a.GetPolicyName() != "block-shadow" {
					t.Errorf("alert = %v, %v", a, err)
				}
			}
			if l, err := logs.Recv(); err != nil || l.GetOperation() != "Process" {
				t.Errorf("log = %v, %v", l, err)
			}
			if m, err := msgs.Recv(); err != nil || m.GetMessage() != "hello" {
				t.Errorf("message = %v, %v", m, err)
			}

			// Unknown filters end the stream at once, as upstream.
			for _, f := range []string{"system", "", "everything"} {
				s, err := c.WatchAlerts(ctx, &feeder.RequestMessage{Filter: f})
				if err != nil {
					t.Fatal(err)
				}
				if a, err := s.Recv(); !errors.Is(err, io.EOF) {
					t.Errorf("WatchAlerts(%q): got %v, %v; want EOF", f, a, err)
				}
			}
			s, err := c.WatchLogs(ctx, &feeder.RequestMessage{Filter: "policy"})
			if err != nil {
				t.Fatal(err)
			}
			if l, err := s.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("WatchLogs(policy): got %v, %v; want EOF", l, err)
			}

			// Stopping the server ends live streams cleanly.
			if err := e.stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := alerts.Recv(); err == nil {
				t.Error("stream still open after stop")
			}
		})
	}
}

// must returns v, failing the test on err.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestHealthAndReflection(t *testing.T) {
	e := start(t, Options{Address: "127.0.0.1:0", HealthAddress: "127.0.0.1:0", Policies: &fakePolicies{}}, quietPipeline)
	cc := dial(t, e.target(), nil)
	for _, target := range []string{e.target(), e.srv.HealthAddr().String()} {
		h := healthpb.NewHealthClient(dial(t, target, nil))
		for _, svc := range []string{"", "feeder.LogService", "policy.PolicyService", "policy.ProbeService"} {
			resp, err := h.Check(t.Context(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s: Check(%q) = %v, %v", target, svc, resp, err)
			}
		}
	}
	// The health listener serves health only.
	_, err := feeder.NewLogServiceClient(dial(t, e.srv.HealthAddr().String(), nil)).HealthCheck(t.Context(), &feeder.NonceMessage{Nonce: 1})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("LogService on the health port: %v, want Unimplemented", err)
	}

	stream, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"feeder.LogService", "policy.PolicyService", "policy.ProbeService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func TestPolicyService(t *testing.T) {
	fake := &fakePolicies{}
	e := start(t, Options{Address: "127.0.0.1:0", Policies: fake}, quietPipeline)
	cc := dial(t, e.target(), nil)
	pc := policypb.NewPolicyServiceClient(cc)
	ctx := t.Context()

	req := []byte(`{"type":"ADDED","object":{"metadata":{"name":"p"},"spec":{}}}`)
	for name, call := range map[string]func(context.Context, *policypb.Policy, ...grpc.CallOption) (*policypb.Response, error){
		"container": pc.ContainerPolicy, "host": pc.HostPolicy, "network": pc.NetworkPolicy,
	} {
		resp, err := call(ctx, &policypb.Policy{Policy: req})
		if err != nil || resp.GetStatus() != policypb.PolicyStatus_Applied {
			t.Errorf("%s policy: %v, %v", name, resp, err)
		}
	}
	if len(fake.got) != 3 || !slices.Contains(fake.got, "host "+string(req)) {
		t.Errorf("PolicyAPI got %q", fake.got)
	}

	// A refusal is a normal response, as KubeArmor clients expect; the
	// reason comes in a trailer.
	var trailer metadata.MD
	resp, err := pc.ContainerPolicy(ctx, &policypb.Policy{Policy: []byte(`{"type":"MODIFIED"}`)}, grpc.Trailer(&trailer))
	if err != nil || resp.GetStatus() != policypb.PolicyStatus_Invalid {
		t.Errorf("rejected policy: %v, %v; want status Invalid and no error", resp, err)
	}
	if reason := trailer.Get(PolicyErrorTrailer); len(reason) != 1 || !strings.Contains(reason[0], "matchPaths[0].path: must be absolute") {
		t.Errorf("trailer %s = %q, want the validation error", PolicyErrorTrailer, reason)
	}

	probe, err := policypb.NewProbeServiceClient(cc).GetProbeData(ctx, &emptypb.Empty{})
	if err != nil || !slices.Equal(probe.GetContainerList(), []string{"web"}) {
		t.Errorf("GetProbeData = %v, %v", probe, err)
	}

	// Without a PolicyAPI the services are not there.
	e2 := start(t, Options{Address: "127.0.0.1:0"}, quietPipeline)
	_, err = policypb.NewPolicyServiceClient(dial(t, e2.target(), nil)).ContainerPolicy(ctx, &policypb.Policy{Policy: req})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("policy API without Policies: %v, want Unimplemented", err)
	}
}

func TestTLS(t *testing.T) {
	k := newPKI(t)
	nonce := func(creds credentials.TransportCredentials, target string) error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := feeder.NewLogServiceClient(dial(t, target, creds)).HealthCheck(ctx, &feeder.NonceMessage{Nonce: 7}, grpc.WaitForReady(false))
		return err
	}
	serverOnly := credentials.NewTLS(&tls.Config{RootCAs: k.pool, ServerName: "localhost"})
	withCert := credentials.NewTLS(&tls.Config{RootCAs: k.pool, ServerName: "localhost", Certificates: []tls.Certificate{k.client}})

	t.Run("tls", func(t *testing.T) {
		e := start(t, Options{Address: "127.0.0.1:0", CertFile: k.serverCert, KeyFile: k.serverKey}, quietPipeline)
		if err := nonce(serverOnly, e.target()); err != nil {
			t.Errorf("TLS client: %v", err)
		}
		if err := nonce(nil, e.target()); err == nil {
			t.Error("plaintext client accepted by a TLS server")
		}
	})
	t.Run("mtls", func(t *testing.T) {
		e := start(t, Options{Address: "127.0.0.1:0", CertFile: k.serverCert, KeyFile: k.serverKey, ClientCAFile: k.caFile,
			Policies: &fakePolicies{}}, quietPipeline)
		if err := nonce(withCert, e.target()); err != nil {
			t.Errorf("client with certificate: %v", err)
		}
		if err := nonce(serverOnly, e.target()); err == nil {
			t.Error("client without certificate accepted")
		}
		untrusted := newPKI(t)
		other := credentials.NewTLS(&tls.Config{RootCAs: k.pool, ServerName: "localhost", Certificates: []tls.Certificate{untrusted.client}})
		if err := nonce(other, e.target()); err == nil {
			t.Error("client certificate from another CA accepted")
		}
	})
	t.Run("rotation", func(t *testing.T) {
		defer func(d time.Duration) { tlsRecheck = d }(tlsRecheck)
		tlsRecheck = 0
		dir := t.TempDir()
		files := map[string]string{"ca.crt": "", "tls.crt": "", "tls.key": ""}
		install := func(k *pki) {
			for name, src := range map[string]string{"ca.crt": k.caFile, "tls.crt": k.serverCert, "tls.key": k.serverKey} {
				b, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				files[name] = filepath.Join(dir, name)
				if err := os.WriteFile(files[name]+".new", b, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(files[name]+".new", files[name]); err != nil {
					t.Fatal(err)
				}
			}
		}
		creds := func(k *pki) credentials.TransportCredentials {
			return credentials.NewTLS(&tls.Config{RootCAs: k.pool, ServerName: "localhost", Certificates: []tls.Certificate{k.client}})
		}
		install(k)
		e := start(t, Options{Address: "127.0.0.1:0", CertFile: files["tls.crt"], KeyFile: files["tls.key"], ClientCAFile: files["ca.crt"]}, quietPipeline)
		if err := nonce(creds(k), e.target()); err != nil {
			t.Fatalf("before rotation: %v", err)
		}
		next := newPKI(t)
		install(next)
		if err := nonce(creds(next), e.target()); err != nil {
			t.Errorf("new material after rotation: %v", err)
		}
		if err := nonce(creds(k), e.target()); err == nil {
			t.Error("old CA's client still accepted after rotation")
		}
		// A broken file keeps the last good material.
		if err := os.WriteFile(files["tls.crt"], []byte("half written"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := nonce(creds(next), e.target()); err != nil {
			t.Errorf("after a broken rotation: %v", err)
		}
	})
	t.Run("bad files", func(t *testing.T) {
		p, _ := pipeline.New(pipeline.Options{})
		for _, o := range []Options{
			{CertFile: k.serverCert},
			{ClientCAFile: k.caFile},
			{CertFile: k.serverCert, KeyFile: "/nonexistent.key"},
			{CertFile: k.serverCert, KeyFile: k.serverKey, ClientCAFile: k.serverKey},
		} {
			o.Pipeline = p
			if _, err := New(o); err == nil {
				t.Errorf("New(%+v) succeeded", o)
			}
		}
	})
}

func TestRefusesUnauthenticatedRemotePolicyAPI(t *testing.T) {
	ip := nonLoopbackIP(t)
	remote := net.JoinHostPort(ip.String(), "0")
	p, err := pipeline.New(pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := newPKI(t, ip)
	for _, addr := range []string{remote, ":0", "0.0.0.0:0", "[::]:0", "bulwark.example:32767"} {
		for _, o := range []Options{
			{Address: addr},
			{Address: addr, CertFile: k.serverCert, KeyFile: k.serverKey}, // TLS without client auth is not enough
		} {
			o.Pipeline, o.Policies = p, &fakePolicies{}
			if _, err := New(o); !errors.Is(err, ErrInsecurePolicyAPI) {
				t.Errorf("New(%s, tls=%v) = %v, want ErrInsecurePolicyAPI", addr, o.CertFile != "", err)
			}
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0", "32767", "unix:///run/bulwark.sock"} {
		if _, err := New(Options{Address: addr, Pipeline: p, Policies: &fakePolicies{}}); err != nil {
			t.Errorf("New(%s) with a local policy API: %v", addr, err)
		}
	}
	// Listening only: LogService alone, and the policy API with mTLS, may
	// be served on the machine's address. No traffic is sent there.
	for _, o := range []Options{
		{Address: remote},
		{Address: remote, CertFile: k.serverCert, KeyFile: k.serverKey, ClientCAFile: k.caFile, Policies: &fakePolicies{}},
	} {
		e := start(t, o, quietPipeline)
		if got := e.srv.Addr().(*net.TCPAddr).IP; !got.Equal(ip) {
			t.Errorf("listening on %v, want %v", got, ip)
		}
		if err := e.stop(); err != nil {
			t.Error(err)
		}
	}
}

func TestGarbageDoesNotHurt(t *testing.T) {
	k := newPKI(t)
	for _, tc := range []struct {
		name  string
		opts  Options
		creds credentials.TransportCredentials
	}{
		{"plaintext", Options{Address: "127.0.0.1:0"}, nil},
		{"tls", Options{Address: "127.0.0.1:0", CertFile: k.serverCert, KeyFile: k.serverKey},
			credentials.NewTLS(&tls.Config{RootCAs: k.pool, ServerName: "localhost"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, tc.opts, quietPipeline)
			addr := e.srv.Addr().String()
			payloads := [][]byte{
				[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
				[]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage-frames"),
				[]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), // truncated TLS hello
				{},
			}
			for range 20 {
				b := make([]byte, 1+len(payloads)*97)
				_, _ = rand.Read(b)
				payloads = append(payloads, b)
			}
			for i, b := range payloads {
				conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatalf("payload %d: dial: %v", i, err)
				}
				_ = conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
				_, _ = conn.Write(b)
				if i%2 == 0 { // half of them wait for the server's answer or close
					_, _ = io.Copy(io.Discard, conn)
				}
				_ = conn.Close()
			}
			reply, err := feeder.NewLogServiceClient(dial(t, e.target(), tc.creds)).HealthCheck(t.Context(), &feeder.NonceMessage{Nonce: 9})
			if err != nil || reply.GetRetval() != 9 {
				t.Fatalf("after garbage: %v, %v", reply, err)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, network, address string
		loopback             bool
	}{
		{"32767", "tcp", "127.0.0.1:32767", true},
		{":32767", "tcp", ":32767", false},
		{"localhost:1", "tcp", "localhost:1", true},
		{"[::1]:1", "tcp", "[::1]:1", true},
		{"10.1.2.3:1", "tcp", "10.1.2.3:1", false},
		{"unix:///run/bulwark/bulwark.sock", "unix", "/run/bulwark/bulwark.sock", true},
	} {
		e, err := parseAddress(tc.in)
		if err != nil || e.network != tc.network || e.address != tc.address || e.loopback() != tc.loopback {
			t.Errorf("parseAddress(%q) = %+v (loopback %v), %v", tc.in, e, e.loopback(), err)
		}
	}
	for _, bad := range []string{"", "host", "unix://relative", "1.2.3.4:99999", "a:b:c"} {
		if _, err := parseAddress(bad); err == nil {
			t.Errorf("parseAddress(%q) succeeded", bad)
		}
	}
}

func TestStartErrors(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	p, _ := pipeline.New(pipeline.Options{})
	srv, err := New(Options{Address: lis.Addr().String(), Pipeline: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("Start on a busy port: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a pipeline succeeded")
	}
}
