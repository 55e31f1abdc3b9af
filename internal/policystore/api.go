package policystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// Event types of a PolicyService request.
const (
	EventAdded    = "ADDED"
	EventModified = "MODIFIED"
	EventDeleted  = "DELETED"
)

const apiVersion = "security.kubearmor.com/v1"

// request is a PolicyService request body.
type request struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// ErrNotEnabled is the error of a request for a disabled class.
var ErrNotEnabled = errors.New("policy kind not enabled")

// safeName is what a policy name or namespace may be to become part of a
// file name; Kubernetes names are narrower (DNS-1123).
var safeName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// ApplyPolicy applies, replaces or deletes one policy received over the
// PolicyService API. See the package documentation for the statuses.
func (s *Store) ApplyPolicy(ctx context.Context, class Class, body []byte) (policypb.PolicyStatus, error) {
	if err := ctx.Err(); err != nil {
		return policypb.PolicyStatus_Failure, err
	}
	switch class {
	case ClassContainer, ClassHost, ClassNetwork:
	default:
		return policypb.PolicyStatus_Invalid, fmt.Errorf("unknown policy class %q", class)
	}
	if reason, off := s.opts.Disabled[class]; off {
		return policypb.PolicyStatus_NotEnabled, fmt.Errorf("%w: %s", ErrNotEnabled, reason)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return policypb.PolicyStatus_Invalid, fmt.Errorf("decode request: %w", err)
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Object, &obj); err != nil || obj == nil {
		return policypb.PolicyStatus_Invalid, errors.New("decode request: object must be a JSON object")
	}
	kind, err := kindFor(class, obj)
	if err != nil {
		return policypb.PolicyStatus_Invalid, err
	}
	obj["kind"] = string(kind)
	if _, ok := obj["apiVersion"]; !ok {
		obj["apiVersion"] = apiVersion
	}
	switch strings.ToUpper(req.Type) {
	case EventAdded, EventModified:
		return s.applyObject(class, obj)
	case EventDeleted:
		return s.deleteObject(kind, obj)
	}
	return policypb.PolicyStatus_Invalid, fmt.Errorf("unknown event type %q: want ADDED, MODIFIED or DELETED", req.Type)
}

// kindFor returns the kind of obj sent as class.
func kindFor(class Class, obj map[string]any) (policy.Kind, error) {
	want := map[Class][]policy.Kind{
		ClassContainer: {policy.KindPolicy, policy.KindClusterPolicy},
		ClassHost:      {policy.KindHostPolicy},
		ClassNetwork:   {policy.KindNetworkPolicy},
	}[class]
	k, _ := obj["kind"].(string)
	if k == "" {
		return want[0], nil
	}
	for _, w := range want {
		if policy.Kind(k) == w {
			return w, nil
		}
	}
	return "", fmt.Errorf("kind %s cannot be sent as a %s policy", k, class)
}

func (s *Store) applyObject(class Class, obj map[string]any) (policypb.PolicyStatus, error) {
	data, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return policypb.PolicyStatus_Invalid, fmt.Errorf("encode object: %w", err)
	}
	res := policy.LoadBytes("request", data, policy.Options{})
	if res.Errors() > 0 {
		return policypb.PolicyStatus_Invalid, &DiagnosticsError{Diagnostics: res.Diagnostics}
	}
	if len(res.Policies) != 1 {
		return policypb.PolicyStatus_Invalid, fmt.Errorf("request holds %d policies, want 1", len(res.Policies))
	}
	p := res.Policies[0]
	if ClassOf(p.Kind) != class {
		return policypb.PolicyStatus_Invalid, fmt.Errorf("kind %s cannot be sent as a %s policy", p.Kind, class)
	}
	id := IDOf(p)
	if err := checkNames(id); err != nil {
		return policypb.PolicyStatus_Invalid, err
	}
	p.Location = policy.Location{File: "PolicyService"}

	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fileOwnerLocked(id); f != "" {
		return policypb.PolicyStatus_Failure, fmt.Errorf("policy %s is defined by %s in the policy directory: change the file instead", id, f)
	}
	_, existed := s.api[id]
	if err := s.persistLocked(id, data); err != nil {
		return policypb.PolicyStatus_Failure, err
	}
	s.api[id] = p
	s.rebuildLocked()
	if existed {
		s.log.Info("policy modified over the API", "policy", id.String())
		return policypb.PolicyStatus_Modified, nil
	}
	s.log.Info("policy applied over the API", "policy", id.String())
	return policypb.PolicyStatus_Applied, nil
}

func (s *Store) deleteObject(kind policy.Kind, obj map[string]any) (policypb.PolicyStatus, error) {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	if name == "" {
		return policypb.PolicyStatus_Invalid, errors.New("metadata.name is required")
	}
	switch kind {
	case policy.KindPolicy:
		if ns == "" {
			ns = "default" // as internal/policy normalises it
		}
	default:
		ns = ""
	}
	id := ID{Kind: kind, Namespace: ns, Name: name}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.api[id]; !ok {
		if f := s.fileOwnerLocked(id); f != "" {
			return policypb.PolicyStatus_Failure, fmt.Errorf("policy %s is defined by %s in the policy directory: remove the file instead", id, f)
		}
		return policypb.PolicyStatus_NotExist, fmt.Errorf("policy %s does not exist", id)
	}
	if err := s.unpersistLocked(id); err != nil {
		return policypb.PolicyStatus_Failure, err
	}
	delete(s.api, id)
	s.rebuildLocked()
	s.log.Info("policy deleted over the API", "policy", id.String())
	return policypb.PolicyStatus_Deleted, nil
}

func checkNames(id ID) error {
	if !safeName.MatchString(id.Name) {
		return fmt.Errorf("metadata.name %q: only letters, digits, '.', '_' and '-' are accepted", id.Name)
	}
	if id.Namespace != "" && (!safeName.MatchString(id.Namespace) || strings.Contains(id.Namespace, ".")) {
		return fmt.Errorf("metadata.namespace %q: only letters, digits, '_' and '-' are accepted", id.Namespace)
	}
	return nil
}

// fileOwnerLocked returns the policy-directory file that defines id.
func (s *Store) fileOwnerLocked(id ID) string {
	for f, ps := range s.files {
		for _, p := range ps {
			if IDOf(p) == id {
				return f
			}
		}
	}
	return ""
}

// ProbeData answers ProbeService.getProbeData: the host policies selected
// for this host and the network policies, keyed by the host name. Bulwark
// does not track containers yet, so the container fields are empty. Each
// policyDataList entry is the normalised policy as JSON.
func (s *Store) ProbeData(ctx context.Context) (*policypb.ProbeResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	host := &policypb.HostSecurityPolicies{}
	network := &policypb.NetworkSecurityPolicies{}
	w := engine.Workload{Host: true, Hostname: s.opts.Hostname, Standalone: true}
	for _, p := range s.Snapshot() {
		data, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode policy %s: %w", IDOf(p), err)
		}
		switch {
		case p.Kind == policy.KindNetworkPolicy:
			network.PolicyList = append(network.PolicyList, p.Name)
			network.PolicyDataList = append(network.PolicyDataList, &policypb.Policy{Policy: data})
		case p.Kind == policy.KindHostPolicy && engine.Selects(p, w):
			host.PolicyList = append(host.PolicyList, p.Name)
			host.PolicyDataList = append(host.PolicyDataList, &policypb.Policy{Policy: data})
		}
	}
	return &policypb.ProbeResponse{
		ContainerMap: map[string]*policypb.ContainerData{},
		HostMap:      map[string]*policypb.HostSecurityPolicies{s.opts.Hostname: host},
		NetworkMap:   map[string]*policypb.NetworkSecurityPolicies{s.opts.Hostname: network},
	}, nil
}

// Persistence ---------------------------------------------------------------

func (s *Store) policyStateDir() string { return filepath.Join(s.opts.StateDir, "policies") }

// persistedName is the file name of a persisted API policy.
func persistedName(id ID) string {
	name := id.Name
	if id.Namespace != "" {
		name = id.Namespace + "." + id.Name
	}
	return strings.ToLower(string(id.Kind)) + "-" + name + ".yaml"
}

// persistLocked writes the policy object (JSON) as YAML, atomically.
func (s *Store) persistLocked(id ID, object []byte) error {
	if s.opts.StateDir == "" {
		return nil
	}
	if s.persistErr != nil {
		return fmt.Errorf("persist %s: %w", id, s.persistErr)
	}
	y, err := yaml.JSONToYAML(object)
	if err != nil {
		return fmt.Errorf("persist %s: %w", id, err)
	}
	y = append([]byte("# Applied over bulwarkd's PolicyService; removed by a DELETED request.\n"), y...)
	if err := writeFileAtomic(filepath.Join(s.policyStateDir(), persistedName(id)), y); err != nil {
		return fmt.Errorf("persist %s: %w", id, err)
	}
	return nil
}

func (s *Store) unpersistLocked(id ID) error {
	if s.opts.StateDir == "" {
		return nil
	}
	dir := s.policyStateDir()
	if err := os.Remove(filepath.Join(dir, persistedName(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unpersist %s: %w", id, err)
	}
	return syncDir(dir)
}

// writeFileAtomic replaces path with data: temporary file, fsync, rename,
// fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// restore loads the persisted API policies. A file that does not load is
// reported and skipped.
func (s *Store) restore() {
	if s.opts.StateDir == "" {
		return
	}
	dir := s.policyStateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.persistErr = err
		s.log.Error("policy state directory unusable: API policies will be refused", "dir", dir, "error", err)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.persistErr = err
		s.log.Error("policy state directory unreadable: API policies will be refused", "dir", dir, "error", err)
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isPolicyFile(e.Name()) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		res, err := policy.LoadPaths([]string{path}, policy.Options{})
		if err != nil {
			s.log.Error("persisted policy unreadable, skipped", "file", path, "error", err)
			continue
		}
		if res.Errors() > 0 || len(res.Policies) != 1 {
			s.logDiagnostics("persisted policy invalid", res)
			s.log.Error("persisted policy corrupted, skipped (fix or delete the file)", "file", path,
				"errors", res.Errors(), "policies", len(res.Policies))
			continue
		}
		p := res.Policies[0]
		if ps := s.enabled(res.Policies, path); len(ps) == 0 {
			continue
		}
		s.api[IDOf(p)] = p
		s.log.Info("persisted policy restored", "policy", IDOf(p).String(), "file", path)
	}
}
