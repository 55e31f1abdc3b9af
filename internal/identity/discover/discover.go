// Package discover finds the container runtimes of a node, from explicit
// socket configuration or KubeArmor's well-known socket paths, and builds
// the identity Sources that follow them: Docker's Engine API, containerd's
// own API, and the CRI v1 API for CRI-O.
package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/containerd"
	"github.com/bulwark-security/bulwark/internal/identity/cri"
	"github.com/bulwark-security/bulwark/internal/identity/docker"
)

// ErrUnsupported is returned for a runtime Bulwark cannot follow.
var ErrUnsupported = errors.New("container runtime not supported")

// Config says where to look.
type Config struct {
	// Sockets are explicit runtime sockets ("unix:///run/containerd/containerd.sock"
	// or a path); the runtime is told by the substrings docker, containerd
	// and crio, as KubeArmor's criSocket. Empty means Detect.
	Sockets []string
	// Root prefixes the well-known paths (e.g. "/host" when the host's /run
	// is mounted there); empty means "/".
	Root string
	// Backoff and Logger are passed to the sources.
	Backoff identity.Backoff
	Logger  *slog.Logger
}

// Parse reads an explicit socket setting.
func Parse(socket string) (identity.Endpoint, error) {
	addr := strings.TrimPrefix(socket, "unix://")
	if strings.Contains(addr, "://") || !filepath.IsAbs(addr) {
		return identity.Endpoint{}, fmt.Errorf("runtime socket %q: want unix:///path or /path", socket)
	}
	switch {
	case strings.Contains(addr, "docker.sock"):
		return identity.Endpoint{Runtime: identity.RuntimeDocker, Address: addr}, nil
	case strings.Contains(addr, "containerd") || strings.Contains(addr, "dockershim"):
		return identity.Endpoint{Runtime: identity.RuntimeContainerd, Address: addr}, nil
	case strings.Contains(addr, "crio"):
		return identity.Endpoint{Runtime: identity.RuntimeCRIO, Address: addr}, nil
	case strings.Contains(addr, "docker"):
		return identity.Endpoint{Runtime: identity.RuntimeDocker, Address: addr}, nil
	}
	return identity.Endpoint{}, fmt.Errorf("runtime socket %q: cannot tell docker, containerd or cri-o from its path", socket)
}

// Detect returns the well-known sockets under root that exist, once each
// (/var/run is usually a link to /run).
func Detect(root string) []identity.Endpoint {
	var out []identity.Endpoint
	seen := map[string]bool{}
	for _, e := range identity.WellKnownEndpoints {
		p := filepath.Join(root, e.Address)
		st, err := os.Stat(p)
		if err != nil || st.Mode().Type() != fs.ModeSocket {
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			real = p
		}
		if !seen[real] {
			seen[real] = true
			out = append(out, identity.Endpoint{Runtime: e.Runtime, Address: p})
		}
	}
	return out
}

// Sources returns the sources for cfg's endpoints and the endpoints used.
// A CRI-O endpoint is followed over the CRI (the cri package), its
// containers tagged identity.RuntimeCRIO. When Docker is followed,
// containerd's "moby" namespace is skipped: the same containers, without
// their Docker names.
func Sources(cfg Config) ([]identity.Source, []identity.Endpoint, error) {
	var eps []identity.Endpoint
	var errs []error
	if len(cfg.Sockets) == 0 {
		eps = Detect(cfg.Root)
	}
	for _, s := range cfg.Sockets {
		e, err := Parse(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		eps = append(eps, e)
	}
	hasDocker := slices.ContainsFunc(eps, func(e identity.Endpoint) bool { return e.Runtime == identity.RuntimeDocker })
	var srcs []identity.Source
	var used []identity.Endpoint
	for _, e := range eps {
		switch e.Runtime {
		case identity.RuntimeDocker:
			srcs = append(srcs, docker.New(docker.Options{Address: e.Address, Backoff: cfg.Backoff, Logger: cfg.Logger}))
		case identity.RuntimeContainerd:
			o := containerd.Options{Address: e.Address, Backoff: cfg.Backoff, Logger: cfg.Logger}
			if hasDocker {
				o.SkipNamespaces = []string{"moby"}
			}
			srcs = append(srcs, containerd.New(o))
		case identity.RuntimeCRIO:
			srcs = append(srcs, cri.New(cri.Options{Address: e.Address, Runtime: identity.RuntimeCRIO, Backoff: cfg.Backoff, Logger: cfg.Logger}))
		default:
			errs = append(errs, fmt.Errorf("%s at %s: %w", e.Runtime, e.Address, ErrUnsupported))
			continue
		}
		used = append(used, e)
	}
	return srcs, used, errors.Join(errs...)
}
