package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/bulwark-security/bulwark/internal/pipeline"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
)

// Defaults of Options.
const (
	DefaultAddress        = "127.0.0.1:32767"
	DefaultUnixSocketMode = 0o600
)

// PolicyClass is the kind of policy a PolicyService call carries.
type PolicyClass string

// Policy classes, one per PolicyService method.
const (
	PolicyClassContainer PolicyClass = "container" // containerPolicy: KubeArmorPolicy, KubeArmorClusterPolicy
	PolicyClassHost      PolicyClass = "host"      // hostPolicy: KubeArmorHostPolicy
	PolicyClassNetwork   PolicyClass = "network"   // networkPolicy: KubeArmorNetworkPolicy
)

// PolicyAPI is what PolicyService and ProbeService call; the agent's policy
// store implements it.
type PolicyAPI interface {
	// ApplyPolicy applies one policy event. request is the policy message's
	// JSON bytes: {"type":"ADDED|MODIFIED|DELETED","object":{...}}. A
	// non-nil error is sent to the client as the gRPC status message (with
	// the returned PolicyStatus as a status detail), so validation errors
	// reach the user.
	ApplyPolicy(ctx context.Context, class PolicyClass, request []byte) (policypb.PolicyStatus, error)
	// ProbeData reports the policies in force, for `karmor probe`.
	ProbeData(ctx context.Context) (*policypb.ProbeResponse, error)
}

// Options configures a Server.
type Options struct {
	// Address to listen on: "port" (loopback: 127.0.0.1:port), ":port" (all
	// interfaces), "host:port", or "unix:///path/to.sock". Default
	// "127.0.0.1:32767".
	Address string
	// HealthAddress, if set, gets a second, plaintext listener serving only
	// grpc.health.v1, like upstream's gRPCHealthPort (32766). Same forms as
	// Address. Default: none (health is always on the main listener).
	HealthAddress string

	// CertFile and KeyFile turn on TLS for the main listener. ClientCAFile
	// additionally requires client certificates signed by that CA (mTLS).
	CertFile     string
	KeyFile      string
	ClientCAFile string

	// UnixSocketMode is the permission of a unix socket. Default 0600.
	UnixSocketMode os.FileMode

	// Pipeline feeds LogService. Required.
	Pipeline *pipeline.Pipeline
	// Policies, if not nil, serves PolicyService and ProbeService. It is
	// refused on a non-loopback TCP address unless ClientCAFile is set.
	Policies PolicyAPI

	// Logger receives the server's diagnostics. Nil discards them.
	Logger *slog.Logger
}

// endpoint is a parsed listen address.
type endpoint struct {
	network, address string
}

func (e endpoint) String() string {
	if e.network == "unix" {
		return "unix://" + e.address
	}
	return e.address
}

// parseAddress accepts "port", ":port", "host:port" and "unix:///path".
func parseAddress(s string) (endpoint, error) {
	if path, ok := strings.CutPrefix(s, "unix://"); ok {
		if !strings.HasPrefix(path, "/") {
			return endpoint{}, fmt.Errorf("address %q: unix socket path must be absolute (unix:///path)", s)
		}
		return endpoint{"unix", path}, nil
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		s = net.JoinHostPort("127.0.0.1", s)
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("address %q: want port, :port, host:port or unix:///path: %w", s, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return endpoint{}, fmt.Errorf("address %q: bad port %q", s, port)
	}
	return endpoint{"tcp", s}, nil
}

// loopback reports whether e is reachable only from this machine.
func (e endpoint) loopback() bool {
	if e.network == "unix" {
		return true
	}
	host, _, _ := net.SplitHostPort(e.address)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ErrInsecurePolicyAPI is returned when the policy API would be exposed on
// the network without client-certificate authentication.
var ErrInsecurePolicyAPI = errors.New("policy API on a non-loopback address requires mTLS (set CertFile, KeyFile and ClientCAFile), " +
	"or listen on a loopback address or a unix socket")

func (o Options) withDefaults() (Options, endpoint, *endpoint, error) {
	if o.Address == "" {
		o.Address = DefaultAddress
	}
	if o.UnixSocketMode == 0 {
		o.UnixSocketMode = DefaultUnixSocketMode
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Pipeline == nil {
		return o, endpoint{}, nil, errors.New("no pipeline")
	}
	main, err := parseAddress(o.Address)
	if err != nil {
		return o, endpoint{}, nil, err
	}
	var health *endpoint
	if o.HealthAddress != "" {
		h, err := parseAddress(o.HealthAddress)
		if err != nil {
			return o, endpoint{}, nil, fmt.Errorf("health %w", err)
		}
		health = &h
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return o, endpoint{}, nil, errors.New("TLS needs both CertFile and KeyFile")
	}
	if o.ClientCAFile != "" && o.CertFile == "" {
		return o, endpoint{}, nil, errors.New("ClientCAFile (mTLS) needs CertFile and KeyFile")
	}
	if o.Policies != nil && !main.loopback() && o.ClientCAFile == "" {
		return o, endpoint{}, nil, fmt.Errorf("address %s: %w", main, ErrInsecurePolicyAPI)
	}
	return o, main, health, nil
}
