// Package metrics holds bulwarkd's Prometheus registry and the HTTP server
// that exposes it.
//
// One registry is shared by the agent: NewRegistry creates it, components
// register their collectors on it (the pipeline through
// pipeline.Options.Registerer; the enforcer, policy store and BPF map
// collectors likewise), and Server serves it on /metrics. The server is
// meant to run by default on DefaultAddress, a loopback address, so the
// metrics (which name policies) are not exposed to the network unless the
// operator chooses an address.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddress is where the metrics server listens when given no address.
const DefaultAddress = "127.0.0.1:9753"

// Path is the URL path of the metrics endpoint.
const Path = "/metrics"

const (
	readHeaderTimeout = 5 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics gathered from g in the Prometheus text (or
// negotiated OpenMetrics) format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Server serves a registry over HTTP on Path; /healthz answers "ok".
type Server struct {
	// Logger receives the server's diagnostics. Nil discards them.
	Logger *slog.Logger

	addr     string
	gatherer prometheus.Gatherer

	mu    sync.Mutex
	bound net.Addr
	ready chan struct{}
}

// NewServer returns a server for g on addr ("host:port"; empty means
// DefaultAddress). Nothing listens until Start.
func NewServer(addr string, g prometheus.Gatherer) *Server {
	if addr == "" {
		addr = DefaultAddress
	}
	return &Server{addr: addr, gatherer: g, ready: make(chan struct{})}
}

// Start listens and serves until ctx is done, then shuts down.
func (s *Server) Start(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lis, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", s.addr, err)
	}
	s.mu.Lock()
	s.bound = lis.Addr()
	s.mu.Unlock()
	close(s.ready)

	mux := http.NewServeMux()
	mux.Handle(Path, Handler(s.gatherer))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("metrics server listening", "address", lis.Addr().String(), "path", Path)
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound address, or nil before Start listens.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound
}
