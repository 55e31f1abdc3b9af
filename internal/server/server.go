package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/version"
)

// Keepalive and shutdown timing. Keepalive is upstream's: ping an idle
// client every second, drop it after 5 s without an answer.
const (
	keepaliveTime     = 1 * time.Second
	keepaliveTimeout  = 5 * time.Second
	handshakeTimeout  = 10 * time.Second
	gracefulStopLimit = 5 * time.Second
)

// Server serves Bulwark's gRPC API. Create it with New and run it with
// Start.
type Server struct {
	opts   Options
	log    *slog.Logger
	main   endpoint
	health *endpoint

	grpc       *grpc.Server
	healthGRPC *grpc.Server // nil without HealthAddress
	healthSrv  *health.Server

	started  atomic.Bool
	ready    chan struct{}
	stopping chan struct{}
	mu       sync.Mutex
	addr     net.Addr
	hAddr    net.Addr
}

// New checks opts, loads the TLS material and builds the server. Nothing
// listens until Start. It refuses (ErrInsecurePolicyAPI) to serve a
// PolicyAPI on a non-loopback TCP address without mTLS.
func New(opts Options) (*Server, error) {
	o, main, hep, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("server options: %w", err)
	}
	s := &Server{
		opts: o, log: o.Logger, main: main, health: hep,
		healthSrv: health.NewServer(),
		ready:     make(chan struct{}),
		stopping:  make(chan struct{}),
	}
	sopts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveTime, PermitWithoutStream: true}),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.ChainUnaryInterceptor(s.recoverUnary),
		grpc.ChainStreamInterceptor(s.recoverStream),
	}
	if o.CertFile != "" {
		m, err := newTLSFiles(o, s.log)
		if err != nil {
			return nil, fmt.Errorf("server TLS: %w", err)
		}
		sopts = append(sopts, grpc.Creds(m.credentials()))
	}
	s.grpc = grpc.NewServer(sopts...)
	feeder.RegisterLogServiceServer(s.grpc, &logService{s: s})
	services := []string{"", feeder.LogService_ServiceDesc.ServiceName}
	if o.Policies != nil {
		policypb.RegisterPolicyServiceServer(s.grpc, &policyService{api: o.Policies, log: s.log})
		policypb.RegisterProbeServiceServer(s.grpc, &probeService{api: o.Policies})
		services = append(services, policypb.PolicyService_ServiceDesc.ServiceName, policypb.ProbeService_ServiceDesc.ServiceName)
	}
	healthpb.RegisterHealthServer(s.grpc, s.healthSrv)
	reflection.Register(s.grpc)
	for _, name := range services {
		s.healthSrv.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	if hep != nil {
		s.healthGRPC = grpc.NewServer(grpc.ConnectionTimeout(handshakeTimeout))
		healthpb.RegisterHealthServer(s.healthGRPC, s.healthSrv)
	}
	return s, nil
}

// Start listens and serves until ctx is done, then marks health NOT_SERVING,
// ends the streams and stops (gracefully for up to 5 s). It returns an
// error if it cannot listen or a listener fails.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("server: already started")
	}
	lis, err := listen(s.main, s.opts.UnixSocketMode)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.main, err)
	}
	var hlis net.Listener
	if s.health != nil {
		if hlis, err = listen(*s.health, s.opts.UnixSocketMode); err != nil {
			_ = lis.Close()
			return fmt.Errorf("server: listen health %s: %w", s.health, err)
		}
	}
	s.mu.Lock()
	s.addr = lis.Addr()
	if hlis != nil {
		s.hAddr = hlis.Addr()
	}
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("gRPC server listening", "address", s.main.String(), "bound", lis.Addr().String(),
		"tls", s.opts.CertFile != "", "mtls", s.opts.ClientCAFile != "", "policyAPI", s.opts.Policies != nil,
		"healthAddress", s.opts.HealthAddress)

	errc := make(chan error, 2)
	go func() { errc <- s.grpc.Serve(lis) }()
	if hlis != nil {
		go func() { errc <- s.healthGRPC.Serve(hlis) }()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.stop()
	if serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return fmt.Errorf("server: serve: %w", serveErr)
	}
	s.log.Info("gRPC server stopped")
	return nil
}

func (s *Server) stop() {
	s.healthSrv.Shutdown()
	close(s.stopping)
	for _, g := range []*grpc.Server{s.grpc, s.healthGRPC} {
		if g == nil {
			continue
		}
		done := make(chan struct{})
		go func() {
			g.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(gracefulStopLimit):
			g.Stop()
			<-done
		}
	}
}

// Ready is closed once the listeners are bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the main listener's address, or nil before Start has bound
// it.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// HealthAddr returns the health listener's address, or nil.
func (s *Server) HealthAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hAddr
}

func listen(e endpoint, mode os.FileMode) (net.Listener, error) {
	if e.network != "unix" {
		return net.Listen(e.network, e.address)
	}
	if fi, err := os.Lstat(e.address); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", e.address)
		}
		if err := os.Remove(e.address); err != nil { // stale socket of a previous run
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(e.address), 0o755); err != nil {
		return nil, err
	}
	lis, err := net.Listen("unix", e.address)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(e.address, mode); err != nil {
		_ = lis.Close()
		return nil, err
	}
	return lis, nil
}

// VersionHeader is the response header carrying bulwarkd's version on
// every call (KubeArmor's API has no version call).
const VersionHeader = "bulwark-version"

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer s.recoverPanic(info.FullMethod, &err)
	_ = grpc.SetHeader(ctx, metadata.Pairs(VersionHeader, version.String()))
	return h(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer s.recoverPanic(info.FullMethod, &err)
	_ = ss.SetHeader(metadata.Pairs(VersionHeader, version.String()))
	return h(srv, ss)
}

func (s *Server) recoverPanic(method string, err *error) {
	if r := recover(); r != nil {
		s.log.Error("panic in gRPC handler", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error")
	}
}
