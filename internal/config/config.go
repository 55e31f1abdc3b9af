package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-security/bulwark/internal/engine"
)

// Config is bulwarkd's validated configuration. Load returns a new value
// each time; a Config is never modified after it has been returned, so it
// can be shared freely.
type Config struct {
	Cluster         string // cluster name stamped into events
	Host            string // node name; the hostname when unset
	GRPC            string // listen address: "HOST:PORT" or "unix:///path"
	GRPCHealthPort  int    // grpc.health.v1 port; 0 disables it
	TLSEnabled      bool
	TLSCertPath     string
	TLSCertProvider string // "self" or "external"
	LogPath         string // "stdout", "none" or an absolute file path

	Visibility     []string // container visibility; ["none"] for none
	HostVisibility []string // host visibility; resolved from "default"

	DefaultFilePosture             engine.Posture
	DefaultNetworkPosture          engine.Posture
	DefaultCapabilitiesPosture     engine.Posture
	HostDefaultFilePosture         engine.Posture
	HostDefaultNetworkPosture      engine.Posture
	HostDefaultCapabilitiesPosture engine.Posture

	EnableKubeArmorPolicy     bool
	CRISocket                 string // container runtime socket; empty: detect the well-known ones
	EnableKubeArmorHostPolicy bool
	EnableNetworkPolicy       bool // accept KubeArmorNetworkPolicy (not enforced yet)

	AlertThrottling bool
	MaxAlertPerSec  int
	ThrottleSec     int

	K8s           bool
	LSM           []string // LSM preference order; empty means none
	Enforcer      string   // auto, bpf, apparmor or none
	BPFFsPath     string
	ProcfsMount   string
	MachineIDPath string
	UntrackedNs   []string

	// BPF-LSM map sizes (entries), fixed when bulwarkd starts.
	BPFMaxWorkloads, BPFMaxRuleEntries, BPFMaxDFARows int

	PolicyDir   string // watched policy directory; empty for none
	StateDir    string // persisted API policies live in StateDir/policies
	PIDFile     string // empty disables the pid file
	MetricsAddr string // host:port of the metrics endpoint; empty disables it
	Debug       bool

	// Warnings are problems that did not stop loading (unknown BULWARK_*
	// variables, ...).
	Warnings []string

	origins map[string]Origin
}

// Origin says where a configuration value came from.
type Origin struct {
	Source Source
	// File, Line and Column locate a value read from the file.
	File         string
	Line, Column int
	// Name is the environment variable or flag that set the value.
	Name string
}

// Source is a kind of configuration source.
type Source string

// Configuration sources, lowest precedence first.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

func (o Origin) String() string {
	switch o.Source {
	case SourceFile:
		if o.Line > 0 {
			return fmt.Sprintf("%s:%d:%d", o.File, o.Line, o.Column)
		}
		return o.File
	case SourceEnv:
		return "environment " + o.Name
	case SourceFlag:
		return "flag --" + o.Name
	default:
		return "default"
	}
}

// Origin returns where the value of key came from.
func (c *Config) Origin(key string) Origin {
	if k := lookupKey(key); k != nil {
		if o, ok := c.origins[k.Name]; ok {
			return o
		}
	}
	return Origin{Source: SourceDefault}
}

// Value returns the value of key formatted as it would be written in the
// file, and whether the key exists.
func (c *Config) Value(key string) (string, bool) {
	k := lookupKey(key)
	if k == nil {
		return "", false
	}
	return k.format(c), true
}

// HostPostures returns the host default postures as the engine wants them.
func (c *Config) HostPostures() engine.Postures {
	return engine.Postures{File: c.HostDefaultFilePosture, Network: c.HostDefaultNetworkPosture,
		Capabilities: c.HostDefaultCapabilitiesPosture}
}

// ContainerPostures returns the global container default postures.
func (c *Config) ContainerPostures() engine.Postures {
	return engine.Postures{File: c.DefaultFilePosture, Network: c.DefaultNetworkPosture,
		Capabilities: c.DefaultCapabilitiesPosture}
}

// HealthAddress returns the grpc.health.v1 listen address, "" when
// disabled: gRPCHealthPort on the gRPC host, or on loopback when gRPC is a
// unix socket.
func (c *Config) HealthAddress() string {
	if c.GRPCHealthPort == 0 {
		return ""
	}
	host := loopback
	if network, addr := c.GRPCListen(); network == "tcp" {
		host, _, _ = net.SplitHostPort(addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(c.GRPCHealthPort))
}

// GRPCListen returns the network ("tcp" or "unix") and address to listen on.
func (c *Config) GRPCListen() (network, address string) {
	if p, ok := strings.CutPrefix(c.GRPC, "unix://"); ok {
		return "unix", p
	}
	return "tcp", c.GRPC
}

// Error is one invalid configuration value.
type Error struct {
	Origin Origin
	Key    string
	Err    error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.Origin.String() + ": " + e.Err.Error()
	}
	return e.Origin.String() + ": " + e.Key + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Key describes one configuration key.
type Key struct {
	Name    string // as written in the file; flags use it too
	Default string // as written in the file; "" for none
	Help    string
	// Dynamic keys take effect on reload; others need a restart.
	Dynamic bool
	// KubeArmor is false for Bulwark's own keys.
	KubeArmor bool

	boolean bool
	parse   func(c *Config, v string) error
	format  func(c *Config) string
}

// EnvName is the environment variable that sets k.
func (k *Key) EnvName() string { return "BULWARK_" + strings.ToUpper(k.Name) }

// Keys returns every configuration key in documentation order.
func Keys() []*Key { return slices.Clone(keys) }

// DynamicKeys returns the names of the keys that take effect on reload.
func DynamicKeys() []string {
	var names []string
	for _, k := range keys {
		if k.Dynamic {
			names = append(names, k.Name)
		}
	}
	return names
}

func lookupKey(name string) *Key {
	for _, k := range keys {
		if strings.EqualFold(k.Name, name) {
			return k
		}
	}
	return nil
}

// Value sets of the enumerated keys.
var (
	visibilityItems = []string{"process", "file", "network", "capabilities", "dns", "ima", "none"}
	lsmItems        = []string{"bpf", "apparmor", "selinux", "none"}
	enforcerValues  = []string{"auto", "bpf", "apparmor", "none"}
	certProviders   = []string{"self", "external"}
	allVisibility   = "process,file,network,capabilities"
)

var keys = []*Key{
	strKey("cluster", "default", "cluster name in events", true, nil, func(c *Config) *string { return &c.Cluster }),
	strKey("host", "", "node name in events and host policy selection; empty means the hostname", true, nil,
		func(c *Config) *string { return &c.Host }),
	strKey("gRPC", "32767", "gRPC listen address: a port (loopback only), :port (all interfaces), host:port or unix:///path; port 0 picks a free port", true,
		normaliseEndpoint, func(c *Config) *string { return &c.GRPC }),
	intKey("gRPCHealthPort", "32766", "plaintext grpc.health.v1 port on the gRPC host (loopback for a unix socket); 0 disables", true, 0, 65535,
		func(c *Config) *int { return &c.GRPCHealthPort }),
	boolKey("tlsEnabled", "false", "serve gRPC over TLS", true, func(c *Config) *bool { return &c.TLSEnabled }),
	strKey("tlsCertPath", "/var/lib/bulwark/tls", "directory holding tls.crt, tls.key and, for mTLS, ca.crt", true, absPath,
		func(c *Config) *string { return &c.TLSCertPath }),
	strKey("tlsCertProvider", "self", "self: bulwarkd generates a CA, its server pair and a local client pair in tlsCertPath (mTLS); "+
		"external: the files there are managed elsewhere", true, oneOf(certProviders),
		func(c *Config) *string { return &c.TLSCertProvider }),
	strKey("logPath", "none", "where alerts and logs are written: stdout, none or an absolute file path", true,
		logPath, func(c *Config) *string { return &c.LogPath }),
	dyn(listKey("visibility", allVisibility, "container visibility: process,file,network,capabilities,dns,ima or none",
		true, visibilityList(false), func(c *Config) *[]string { return &c.Visibility })),
	dyn(listKey("hostVisibility", "default", "host visibility, as visibility; default means all outside Kubernetes and none in it",
		true, visibilityList(true), func(c *Config) *[]string { return &c.HostVisibility })),
	dyn(postureKey("defaultFilePosture", "container file/process default posture", func(c *Config) *engine.Posture { return &c.DefaultFilePosture })),
	dyn(postureKey("defaultNetworkPosture", "container network default posture", func(c *Config) *engine.Posture { return &c.DefaultNetworkPosture })),
	dyn(postureKey("defaultCapabilitiesPosture", "container capabilities default posture", func(c *Config) *engine.Posture { return &c.DefaultCapabilitiesPosture })),
	dyn(postureKey("hostDefaultFilePosture", "host file/process default posture", func(c *Config) *engine.Posture { return &c.HostDefaultFilePosture })),
	dyn(postureKey("hostDefaultNetworkPosture", "host network default posture", func(c *Config) *engine.Posture { return &c.HostDefaultNetworkPosture })),
	dyn(postureKey("hostDefaultCapabilitiesPosture", "host capabilities default posture", func(c *Config) *engine.Posture { return &c.HostDefaultCapabilitiesPosture })),
	boolKey("enableKubeArmorPolicy", "true", "accept container policies (KubeArmorPolicy, KubeArmorClusterPolicy)", true,
		func(c *Config) *bool { return &c.EnableKubeArmorPolicy }),
	strKey("criSocket", "", "container runtime socket (unix:///path or /path); empty: detect KubeArmor's well-known docker and containerd sockets", true,
		optional(socketPath), func(c *Config) *string { return &c.CRISocket }),
	boolKey("enableKubeArmorHostPolicy", "false", "accept host policies (default true outside Kubernetes)", true,
		func(c *Config) *bool { return &c.EnableKubeArmorHostPolicy }),
	boolKey("enableNetworkPolicy", "false", "accept KubeArmorNetworkPolicy (stored, not yet enforced)", false,
		func(c *Config) *bool { return &c.EnableNetworkPolicy }),
	dyn(boolKey("alertThrottling", "true", "throttle alerts per container", true, func(c *Config) *bool { return &c.AlertThrottling })),
	dyn(intKey("maxAlertPerSec", "10", "alerts per second before throttling", true, 1, 1<<20, func(c *Config) *int { return &c.MaxAlertPerSec })),
	dyn(intKey("throttleSec", "30", "seconds alerts stay throttled", true, 1, 86400, func(c *Config) *int { return &c.ThrottleSec })),
	boolKey("k8s", "false", "Kubernetes mode (not supported yet; KubeArmor defaults to true)", true, func(c *Config) *bool { return &c.K8s }),
	listKey("lsm", "bpf,apparmor,selinux", "LSM preference order (bpf, apparmor, selinux; none for no enforcer)", true,
		lsmList, func(c *Config) *[]string { return &c.LSM }),
	strKey("enforcer", "auto", "enforcer override: auto (follow lsm), bpf, apparmor or none", false, oneOf(enforcerValues),
		func(c *Config) *string { return &c.Enforcer }),
	intKey("bpfMaxWorkloads", "4096", "BPF-LSM: workloads (host and containers) with rules", false, 16, 1<<20,
		func(c *Config) *int { return &c.BPFMaxWorkloads }),
	intKey("bpfMaxRuleEntries", "262144", "BPF-LSM: rule entries of all workloads; an update needs room for a workload's old and new entries", false, 1024, 1<<24,
		func(c *Config) *int { return &c.BPFMaxRuleEntries }),
	intKey("bpfMaxDFARows", "8192", "BPF-LSM: rows of the matchPatterns automata of all workloads (about 16 per pattern; an update needs room for old and new)", false, 256, 1<<20,
		func(c *Config) *int { return &c.BPFMaxDFARows }),
	strKey("bpfFsPath", "/sys/fs/bpf", "bpffs mount point", true, absPath, func(c *Config) *string { return &c.BPFFsPath }),
	strKey("procfsMount", "/proc", "host procfs", true, absPath, func(c *Config) *string { return &c.ProcfsMount }),
	strKey("machineIDPath", "/etc/machine-id", "machine id file (NodeID); the hostname is used when it is missing", true, absPath,
		func(c *Config) *string { return &c.MachineIDPath }),
	listKey("untrackedNs", "kube-system,kubearmor", "namespaces whose workloads are neither enforced nor reported", true,
		nil, func(c *Config) *[]string { return &c.UntrackedNs }),
	strKey("policyDir", "/etc/bulwark/policies", "directory of policy files, watched for changes (empty: none)", false,
		optional(absPath), func(c *Config) *string { return &c.PolicyDir }),
	strKey("stateDir", "/var/lib/bulwark", "state directory; policies applied over gRPC persist in stateDir/policies", false,
		absPath, func(c *Config) *string { return &c.StateDir }),
	strKey("pidFile", "/var/run/bulwarkd.pid", "pid file (falls back to /run, then stateDir; empty: none)", false,
		optional(absPath), func(c *Config) *string { return &c.PIDFile }),
	strKey("metricsAddr", "", "host:port of the Prometheus metrics endpoint (empty: disabled)", false,
		optional(hostPort), func(c *Config) *string { return &c.MetricsAddr }),
	boolKey("debug", "false", "debug logging", true, func(c *Config) *bool { return &c.Debug }),
}

func dyn(k *Key) *Key { k.Dynamic = true; return k }

func strKey(name, def, help string, ka bool, check func(string) (string, error), field func(*Config) *string) *Key {
	return &Key{Name: name, Default: def, Help: help, KubeArmor: ka,
		parse: func(c *Config, v string) error {
			if check != nil {
				var err error
				if v, err = check(v); err != nil {
					return err
				}
			}
			*field(c) = v
			return nil
		},
		format: func(c *Config) string { return *field(c) },
	}
}

func boolKey(name, def, help string, ka bool, field func(*Config) *bool) *Key {
	return &Key{Name: name, Default: def, Help: help, KubeArmor: ka, boolean: true,
		parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not a boolean (true or false)", v)
			}
			*field(c) = b
			return nil
		},
		format: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func intKey(name, def, help string, ka bool, lo, hi int, field func(*Config) *int) *Key {
	return &Key{Name: name, Default: def, Help: help, KubeArmor: ka,
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			if n < lo || n > hi {
				return fmt.Errorf("%d is out of range %d-%d", n, lo, hi)
			}
			*field(c) = n
			return nil
		},
		format: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

func listKey(name, def, help string, ka bool, check func([]string) error, field func(*Config) *[]string) *Key {
	return &Key{Name: name, Default: def, Help: help, KubeArmor: ka,
		parse: func(c *Config, v string) error {
			items := splitList(v)
			if check != nil {
				if err := check(items); err != nil {
					return err
				}
			}
			*field(c) = items
			return nil
		},
		format: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

func postureKey(name, help string, field func(*Config) *engine.Posture) *Key {
	return &Key{Name: name, Default: string(engine.PostureAudit), Help: help + ": audit or block", KubeArmor: true,
		parse: func(c *Config, v string) error {
			switch p := engine.Posture(strings.ToLower(strings.TrimSpace(v))); p {
			case engine.PostureAudit, engine.PostureBlock:
				*field(c) = p
				return nil
			}
			return fmt.Errorf("invalid posture %q: must be audit or block", v)
		},
		format: func(c *Config) string { return string(*field(c)) },
	}
}

// splitList splits a comma list, trimming blanks and dropping empty items.
func splitList(v string) []string {
	items := []string{}
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			items = append(items, f)
		}
	}
	return items
}

func oneOf(values []string) func(string) (string, error) {
	return func(v string) (string, error) {
		l := strings.ToLower(strings.TrimSpace(v))
		if slices.Contains(values, l) {
			return l, nil
		}
		return "", fmt.Errorf("invalid value %q: must be one of %s", v, strings.Join(values, ", "))
	}
}

func optional(check func(string) (string, error)) func(string) (string, error) {
	return func(v string) (string, error) {
		if strings.TrimSpace(v) == "" {
			return "", nil
		}
		return check(v)
	}
}

func absPath(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty path")
	}
	if !filepath.IsAbs(v) {
		return "", fmt.Errorf("path %q is not absolute", v)
	}
	return filepath.Clean(v), nil
}

// socketPath accepts a unix socket as unix:///path or /path.
func socketPath(v string) (string, error) {
	if p, ok := strings.CutPrefix(v, "unix://"); ok {
		if _, err := absPath(p); err != nil {
			return "", err
		}
		return v, nil
	}
	if strings.Contains(v, "://") {
		return "", fmt.Errorf("%q: want unix:///path or /path", v)
	}
	return absPath(v)
}

func logPath(v string) (string, error) {
	switch strings.ToLower(v) {
	case "stdout", "none":
		return strings.ToLower(v), nil
	}
	p, err := absPath(v)
	if err != nil {
		return "", fmt.Errorf("must be stdout, none or an absolute file path: %w", err)
	}
	return p, nil
}

// parsePort parses a TCP port number.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("invalid port %d: must be 0-65535", n)
	}
	return n, nil
}

// loopback is where a bare gRPC port listens.
const loopback = "127.0.0.1"

// normaliseEndpoint turns a gRPC listen value into "HOST:PORT" or
// "unix:///path". A bare port listens on loopback only (the PolicyService
// must not be reachable from the network without mTLS); ":PORT" listens on
// every interface.
func normaliseEndpoint(v string) (string, error) {
	v = strings.TrimSpace(v)
	if p, ok := strings.CutPrefix(v, "unix://"); ok {
		if !filepath.IsAbs(p) {
			return "", fmt.Errorf("invalid address %q: want unix:///absolute/path", v)
		}
		return "unix://" + filepath.Clean(p), nil
	}
	if !strings.Contains(v, ":") {
		n, err := parsePort(v)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort(loopback, strconv.Itoa(n)), nil
	}
	return hostPort(v)
}

func hostPort(v string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(v))
	if err != nil {
		return "", fmt.Errorf("invalid address %q: want HOST:PORT", v)
	}
	n, err := parsePort(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func visibilityList(host bool) func([]string) error {
	return func(items []string) error {
		if host && len(items) == 1 && items[0] == "default" {
			return nil
		}
		for i, it := range items {
			items[i] = strings.ToLower(it)
			if !slices.Contains(visibilityItems, items[i]) {
				valid := strings.Join(visibilityItems, ", ")
				if host {
					valid += " (or default alone)"
				}
				return fmt.Errorf("invalid visibility %q: must be a comma list of %s", it, valid)
			}
		}
		if slices.Contains(items, "none") && len(items) > 1 {
			return errors.New("none cannot be combined with other visibility items")
		}
		if len(items) == 0 {
			return errors.New("empty visibility: use none")
		}
		return nil
	}
}

func lsmList(items []string) error {
	for i, it := range items {
		items[i] = strings.ToLower(it)
		if !slices.Contains(lsmItems, items[i]) {
			return fmt.Errorf("invalid LSM %q: must be a comma list of bpf, apparmor, selinux (or none)", it)
		}
	}
	return nil
}
