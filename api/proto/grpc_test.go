package protoapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/api/proto/policy"
)

// testLogService streams two alerts and one log, honouring KubeArmor's
// filters: other filter values end the stream at once.
type testLogService struct {
	feeder.UnimplementedLogServiceServer
}

func (testLogService) HealthCheck(_ context.Context, req *feeder.NonceMessage) (*feeder.ReplyMessage, error) {
	return &feeder.ReplyMessage{Retval: req.GetNonce()}, nil
}

func (testLogService) WatchMessages(req *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Message]) error {
	if req.GetFilter() != "all" {
		return nil
	}
	return stream.Send(&feeder.Message{Timestamp: 1700000000, HostName: "node-1", Level: "INFO", Message: "started"})
}

func (testLogService) WatchAlerts(req *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Alert]) error {
	if f := req.GetFilter(); f != "all" && f != "policy" {
		return nil
	}
	second := sampleAlert()
	second.Timestamp++
	second.Action = "Audit"
	second.Enforcer = "eBPF Monitor"
	second.Result = "Passed"
	for _, a := range []*feeder.Alert{sampleAlert(), second} {
		if err := stream.Send(a); err != nil {
			return err
		}
	}
	return nil
}

func (testLogService) WatchLogs(req *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Log]) error {
	if f := req.GetFilter(); f != "all" && f != "system" {
		return nil
	}
	return stream.Send(sampleLog())
}

// testPolicyService maps the policy event type to a status, the way the
// daemon reports the outcome of a request.
type testPolicyService struct {
	policy.UnimplementedPolicyServiceServer
}

func (testPolicyService) status(req *policy.Policy) *policy.Response {
	var ev struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(req.GetPolicy(), &ev); err != nil || len(ev.Object) == 0 {
		return &policy.Response{Status: policy.PolicyStatus_Invalid}
	}
	switch ev.Type {
	case "ADDED":
		return &policy.Response{Status: policy.PolicyStatus_Applied}
	case "MODIFIED":
		return &policy.Response{Status: policy.PolicyStatus_Modified}
	case "DELETED":
		return &policy.Response{Status: policy.PolicyStatus_Deleted}
	}
	return &policy.Response{Status: policy.PolicyStatus_Invalid}
}

func (s testPolicyService) ContainerPolicy(_ context.Context, req *policy.Policy) (*policy.Response, error) {
	return s.status(req), nil
}

func (s testPolicyService) HostPolicy(_ context.Context, req *policy.Policy) (*policy.Response, error) {
	return s.status(req), nil
}

func (testPolicyService) NetworkPolicy(context.Context, *policy.Policy) (*policy.Response, error) {
	return &policy.Response{Status: policy.PolicyStatus_NotEnabled}, nil
}

type testProbeService struct {
	policy.UnimplementedProbeServiceServer
}

func (testProbeService) GetProbeData(context.Context, *emptypb.Empty) (*policy.ProbeResponse, error) {
	return sampleProbe(), nil
}

// methodLog records the gRPC paths the server actually received.
type methodLog struct {
	mu      sync.Mutex
	methods []string
}

func (l *methodLog) add(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.methods = append(l.methods, m)
}

func (l *methodLog) seen(m string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.methods, m)
}

// startServer serves all three services on a real TCP port on 127.0.0.1 and
// returns a client connection to it.
func startServer(t *testing.T) (*grpc.ClientConn, *methodLog) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	log := &methodLog{}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			log.add(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			log.add(info.FullMethod)
			return h(srv, ss)
		}),
	)
	feeder.RegisterLogServiceServer(srv, testLogService{})
	policy.RegisterPolicyServiceServer(srv, testPolicyService{})
	policy.RegisterProbeServiceServer(srv, testProbeService{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, log
}

// recvAll drains a server stream.
func recvAll[T any](t *testing.T, stream grpc.ServerStreamingClient[T]) []*T {
	t.Helper()
	var out []*T
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		out = append(out, m)
	}
}

func TestLogServiceOverTCP(t *testing.T) {
	conn, log := startServer(t)
	client := feeder.NewLogServiceClient(conn)
	ctx := t.Context()

	t.Run("health check echoes the nonce", func(t *testing.T) {
		reply, err := client.HealthCheck(ctx, &feeder.NonceMessage{Nonce: 0x5eed})
		if err != nil {
			t.Fatalf("HealthCheck: %v", err)
		}
		if reply.GetRetval() != 0x5eed {
			t.Errorf("Retval = %#x, want 0x5eed", reply.GetRetval())
		}
	})

	t.Run("policy filter streams both alerts intact", func(t *testing.T) {
		stream, err := client.WatchAlerts(ctx, &feeder.RequestMessage{Filter: "policy"})
		if err != nil {
			t.Fatalf("WatchAlerts: %v", err)
		}
		alerts := recvAll(t, stream)
		if len(alerts) != 2 {
			t.Fatalf("got %d alerts, want 2", len(alerts))
		}
		if !proto.Equal(alerts[0], sampleAlert()) {
			t.Errorf("first alert changed in transit:\n got %v\nwant %v", alerts[0], sampleAlert())
		}
		if alerts[1].GetAction() != "Audit" || alerts[1].GetOwner().GetName() != "nginx" ||
			alerts[1].GetExecEvent().GetExecID() != "8812345" || alerts[1].GetEventData()["lsm"] != "SECURITY_BPRM_CHECK" {
			t.Errorf("second alert = %v", alerts[1])
		}
	})

	t.Run("system filter streams the log", func(t *testing.T) {
		stream, err := client.WatchLogs(ctx, &feeder.RequestMessage{Filter: "system"})
		if err != nil {
			t.Fatalf("WatchLogs: %v", err)
		}
		logs := recvAll(t, stream)
		if len(logs) != 1 || !proto.Equal(logs[0], sampleLog()) {
			t.Errorf("logs = %v, want [%v]", logs, sampleLog())
		}
	})

	t.Run("messages stream", func(t *testing.T) {
		stream, err := client.WatchMessages(ctx, &feeder.RequestMessage{Filter: "all"})
		if err != nil {
			t.Fatalf("WatchMessages: %v", err)
		}
		if msgs := recvAll(t, stream); len(msgs) != 1 || msgs[0].GetMessage() != "started" {
			t.Errorf("messages = %v", msgs)
		}
	})

	t.Run("unknown filter ends the stream empty", func(t *testing.T) {
		stream, err := client.WatchAlerts(ctx, &feeder.RequestMessage{Filter: "system"})
		if err != nil {
			t.Fatalf("WatchAlerts: %v", err)
		}
		if alerts := recvAll(t, stream); len(alerts) != 0 {
			t.Errorf("got %d alerts for filter system, want none", len(alerts))
		}
	})

	for _, m := range []string{"/feeder.LogService/HealthCheck", "/feeder.LogService/WatchAlerts",
		"/feeder.LogService/WatchLogs", "/feeder.LogService/WatchMessages"} {
		if !log.seen(m) {
			t.Errorf("server never saw %s", m)
		}
	}
}

func TestPolicyServicesOverTCP(t *testing.T) {
	conn, log := startServer(t)
	client := policy.NewPolicyServiceClient(conn)
	ctx := t.Context()

	tests := []struct {
		name string
		call func(context.Context, *policy.Policy, ...grpc.CallOption) (*policy.Response, error)
		doc  string
		want policy.PolicyStatus
	}{
		{"container policy added is applied", client.ContainerPolicy, `{"type":"ADDED","object":{"metadata":{"name":"a"}}}`, policy.PolicyStatus_Applied},
		{"container policy modified", client.ContainerPolicy, `{"type":"MODIFIED","object":{"metadata":{"name":"a"}}}`, policy.PolicyStatus_Modified},
		{"host policy deleted", client.HostPolicy, `{"type":"DELETED","object":{"metadata":{"name":"h"}}}`, policy.PolicyStatus_Deleted},
		{"host policy that is not JSON is invalid", client.HostPolicy, `type: ADDED`, policy.PolicyStatus_Invalid},
		{"network policy when disabled is not enabled", client.NetworkPolicy, `{"type":"ADDED","object":{}}`, policy.PolicyStatus_NotEnabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.call(ctx, &policy.Policy{Policy: []byte(tt.doc)})
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if resp.GetStatus() != tt.want {
				t.Errorf("status = %v, want %v", resp.GetStatus(), tt.want)
			}
		})
	}

	t.Run("probe data round-trips", func(t *testing.T) {
		resp, err := policy.NewProbeServiceClient(conn).GetProbeData(ctx, &emptypb.Empty{})
		if err != nil {
			t.Fatalf("GetProbeData: %v", err)
		}
		if !proto.Equal(resp, sampleProbe()) {
			t.Errorf("probe = %v, want %v", resp, sampleProbe())
		}
	})

	for _, m := range []string{"/policy.PolicyService/containerPolicy", "/policy.PolicyService/hostPolicy",
		"/policy.PolicyService/networkPolicy", "/policy.ProbeService/getProbeData"} {
		if !log.seen(m) {
			t.Errorf("server never saw %s", m)
		}
	}
}
