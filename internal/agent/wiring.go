package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/bulwark-security/bulwark/internal/certs"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/metrics"
	"github.com/bulwark-security/bulwark/internal/monitor"
	"github.com/bulwark-security/bulwark/internal/pipeline"
	"github.com/bulwark-security/bulwark/internal/server"
)

// tlsProviderSelf is the tlsCertProvider whose files bulwarkd generates;
// with "external" they are those of a Kubernetes TLS secret, ca.crt
// optional (when present, clients need a certificate: mTLS).
const tlsProviderSelf = "self"

// serverNames are the names, besides localhost, that the self-generated
// server certificate holds: the node name, the hostname and the gRPC
// listen host when it is a specific one.
func serverNames(cfg *config.Config) []string {
	names := []string{cfg.Host}
	if h, err := os.Hostname(); err == nil {
		names = append(names, h)
	}
	if host, _, err := net.SplitHostPort(cfg.GRPC); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			names = append(names, host)
		}
	}
	return slices.DeleteFunc(names, func(n string) bool { return n == "" })
}

// DefaultComponents builds bulwarkd's components from the configuration:
// the alert/log pipeline (logPath, alertThrottling, maxAlertPerSec,
// throttleSec), the gRPC server (gRPC, gRPCHealthPort, tls*; LogService,
// and PolicyService/ProbeService backed by the policy store, ProbeService
// with the containers and the policies selecting each, and the active
// enforcer in its response header), the BPF-LSM enforcer's event reader
// and metrics when it is active, and, when metricsAddr is set, the
// metrics endpoint; and telemetry (the system
// monitor, see Telemetry) when this host can run it — when it cannot, the
// reason is logged and the agent runs without it.
func DefaultComponents(env Env) ([]Component, error) {
	cfg := env.Config
	reg := metrics.NewRegistry()
	p, err := pipeline.New(pipeline.Options{
		LogPath:     cfg.LogPath,
		Throttle:    throttleOptions(cfg),
		Logger:      env.Logger.With("component", "pipeline"),
		Registerer:  reg,
		ClusterName: cfg.Cluster,
		HostName:    cfg.Host,
		NodeID:      env.NodeID,
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if env.OnConfig != nil {
		env.OnConfig(throttleKeys, func(c *config.Config) {
			if err := p.SetThrottle(throttleOptions(c)); err != nil {
				env.Logger.Warn("alert throttling not changed", "error", err)
			}
		})
	}
	if env.OnHangup != nil {
		env.OnHangup(p.Reopen)
	}
	var comps []Component
	sopts := server.Options{
		Address:       cfg.GRPC,
		HealthAddress: cfg.HealthAddress(),
		Pipeline:      p,
		Policies:      probeAPI{Store: env.Store, containers: env.Containers, enforcer: env.Enforcer},
		Logger:        env.Logger.With("component", "server"),
	}
	if cfg.TLSEnabled {
		if cfg.TLSCertProvider == tlsProviderSelf {
			r := &certRenewer{dir: cfg.TLSCertPath, names: serverNames(cfg), log: env.Logger.With("component", "tls")}
			if err := r.ensure(); err != nil {
				return nil, fmt.Errorf("tlsCertProvider self: %w", err)
			}
			comps = append(comps, r)
		}
		sopts.CertFile = filepath.Join(cfg.TLSCertPath, certs.ServerCert)
		sopts.KeyFile = filepath.Join(cfg.TLSCertPath, certs.ServerKey)
		if ca := filepath.Join(cfg.TLSCertPath, certs.CACert); fileExists(ca) {
			sopts.ClientCAFile = ca
		}
	}
	srv, err := server.New(sopts)
	if err != nil {
		if errors.Is(err, server.ErrInsecurePolicyAPI) {
			return nil, fmt.Errorf("gRPC %s: %w", cfg.GRPC, err)
		}
		return nil, fmt.Errorf("gRPC server: %w", err)
	}
	comps = append(comps, p, srv)
	if b, ok := env.Active.(*bpfLSM); ok {
		ev := newBPFLSMEvents(env, b, p)
		if err := reg.Register(&enforcerMetrics{e: b.e, events: ev}); err != nil {
			return nil, fmt.Errorf("enforcer metrics: %w", err)
		}
		comps = append(comps, ev)
	}
	if cfg.MetricsAddr != "" {
		ms := metrics.NewServer(cfg.MetricsAddr, reg)
		ms.Logger = env.Logger.With("component", "metrics")
		comps = append(comps, ms)
	}
	if t := startTelemetry(env, p); t != nil {
		comps = append(comps, t)
	}
	return comps, nil
}

// throttleKeys are the configuration keys of throttleOptions.
var throttleKeys = []string{"alertThrottling", "maxAlertPerSec", "throttleSec"}

func throttleOptions(cfg *config.Config) pipeline.ThrottleOptions {
	on := cfg.AlertThrottling
	return pipeline.ThrottleOptions{Enabled: &on, MaxAlertsPerSec: cfg.MaxAlertPerSec, ThrottleSec: cfg.ThrottleSec}
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// startTelemetry loads the monitor for DefaultComponents, or logs why it
// cannot and returns nil.
func startTelemetry(env Env, pub Publisher) *Telemetry {
	log := env.Logger.With("component", "monitor")
	if vis, hostVis := visibilities(env.Config); vis == monitor.VisibilityNone && hostVis == monitor.VisibilityNone {
		// Nothing to observe: don't load the programs at all (turning
		// visibility on later then needs a restart).
		log.Info("monitor not loaded: visibility and hostVisibility are none")
		return nil
	}
	t, err := NewTelemetry(TelemetryOptions{
		Config: env.Config, Probe: env.Probe, RuleSet: env.RuleSet,
		Enforcer: env.Enforcer, EnforcerAlerts: true, Publisher: pub,
		Containers: env.Containers, HostName: env.Config.Host, NodeID: env.NodeID, Logger: log,
	})
	if err != nil {
		log.Warn("monitor unavailable, running without telemetry: no logs, and no Audit alerts", "reason", err.Error())
		return nil
	}
	if env.OnConfig != nil {
		env.OnConfig(telemetryLiveKeys, t.ApplyConfig)
	}
	return t
}
