package policystore_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/policystore"
)

func hostPolicy(name, path string) string {
	return `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata:
  name: ` + name + `
spec:
  nodeSelector:
    matchLabels:
      kubearmor.io/hostname: "*"
  process:
    matchPaths:
      - path: ` + path + `
  action: Block
`
}

// brokenHostPolicy has an unknown field (a strict-mode error).
var brokenHostPolicy = strings.Replace(hostPolicy("hsp-a", "/bin/oops"), "- path:", "- pathh:", 1)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// names lists the snapshot as "name:first rule path".
func names(s *policystore.Store) []string {
	var out []string
	for _, p := range s.Snapshot() {
		first := ""
		if len(p.Rules) > 0 {
			first = p.Rules[0].Path
		}
		out = append(out, p.Name+":"+first)
	}
	return out
}

// waitFor polls the snapshot until it equals want or a second has passed
// (the promise: changes take effect within a second).
func waitFor(t *testing.T, s *policystore.Store, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := names(s)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot = %v, want %v within a second", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startStore(t *testing.T, opts policystore.Options) *policystore.Store {
	t.Helper()
	s := policystore.New(opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	return s
}

func TestPolicyDir(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), hostPolicy("hsp-a", "/bin/a1"))
	write(t, filepath.Join(dir, "notes.txt"), "not a policy")
	s := startStore(t, policystore.Options{Dir: dir, Debounce: 20 * time.Millisecond})
	waitFor(t, s, "hsp-a:/bin/a1")
	ch, unsubscribe := s.Subscribe()
	defer unsubscribe()

	// Give the watch a moment to be established before editing (the
	// assertions poll; a change made before the watch is caught by the
	// rescan anyway).
	time.Sleep(30 * time.Millisecond)

	write(t, filepath.Join(dir, "b.yml"), hostPolicy("hsp-b", "/bin/b1"))
	waitFor(t, s, "hsp-a:/bin/a1", "hsp-b:/bin/b1")
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no change notification")
	}

	// Change a file.
	write(t, filepath.Join(dir, "a.yaml"), hostPolicy("hsp-a", "/bin/a2"))
	waitFor(t, s, "hsp-a:/bin/a2", "hsp-b:/bin/b1")

	// A broken edit keeps the previous good version of that file.
	v := s.Version()
	write(t, filepath.Join(dir, "a.yaml"), brokenHostPolicy)
	deadline := time.Now().Add(time.Second)
	for !slices.Contains(s.Stats().RejectedFiles, filepath.Join(dir, "a.yaml")) {
		if time.Now().After(deadline) {
			t.Fatal("broken file not reported as rejected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := names(s); !slices.Equal(got, []string{"hsp-a:/bin/a2", "hsp-b:/bin/b1"}) || s.Version() != v {
		t.Errorf("after a broken edit: %v (version %d → %d)", got, v, s.Version())
	}

	// Fixing it applies the fix; rename-over (editor style) works too.
	tmp := filepath.Join(dir, ".a.yaml.swp")
	write(t, tmp, hostPolicy("hsp-a", "/bin/a3"))
	if err := os.Rename(tmp, filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "hsp-a:/bin/a3", "hsp-b:/bin/b1")
	if st := s.Stats(); len(st.RejectedFiles) != 0 || st.Files != 2 || st.FilePolicies != 2 {
		t.Errorf("stats = %+v", st)
	}

	// Delete a file.
	if err := os.Remove(filepath.Join(dir, "b.yml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "hsp-a:/bin/a3")
}

func TestPolicyDirBadAtStartAndDisabled(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "bad.yaml"), brokenHostPolicy)
	write(t, filepath.Join(dir, "ksp.yaml"), `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: ksp-1, namespace: ns}
spec:
  selector: {matchLabels: {app: x}}
  process: {matchPaths: [{path: /bin/sh}]}
  action: Block
`)
	s := policystore.New(policystore.Options{Dir: dir, Disabled: map[policystore.Class]string{policystore.ClassContainer: "off"}})
	if got := names(s); len(got) != 0 {
		t.Errorf("snapshot = %v, want empty (bad file, disabled kind)", got)
	}
	if st := s.Stats(); !slices.Equal(st.RejectedFiles, []string{filepath.Join(dir, "bad.yaml")}) {
		t.Errorf("stats = %+v", st)
	}
	// A missing directory is not fatal.
	s = policystore.New(policystore.Options{Dir: filepath.Join(dir, "missing")})
	if len(s.Snapshot()) != 0 {
		t.Error("policies from a missing directory")
	}
}

func apiRequest(t *testing.T, typ, yamlPolicy string) []byte {
	t.Helper()
	res := policy.LoadBytes("t.yaml", []byte(yamlPolicy), policy.Options{})
	if res.Errors() > 0 {
		t.Fatalf("fixture invalid: %v", res.Diagnostics)
	}
	// Rebuild the object as karmor sends it: metadata and spec, no kind.
	var obj map[string]any
	if err := json.Unmarshal(mustJSON(t, yamlPolicy), &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "kind")
	delete(obj, "apiVersion")
	b, err := json.Marshal(map[string]any{"type": typ, "object": obj})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAPI(t *testing.T) {
	state := t.TempDir()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "file.yaml"), hostPolicy("hsp-file", "/bin/f"))
	opts := policystore.Options{Dir: dir, StateDir: state, Hostname: "node-1",
		Disabled: map[policystore.Class]string{policystore.ClassNetwork: "network policies are not enforced yet"}}
	s := policystore.New(opts)
	ctx := t.Context()
	apply := func(class policystore.Class, body []byte) (policypb.PolicyStatus, error) {
		t.Helper()
		return s.ApplyPolicy(ctx, class, body)
	}
	tests := []struct {
		name   string
		class  policystore.Class
		body   []byte
		status policypb.PolicyStatus
		err    string
	}{
		{"add", policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("hsp-api", "/bin/x")), policypb.PolicyStatus_Applied, ""},
		{"add again modifies", policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("hsp-api", "/bin/y")), policypb.PolicyStatus_Modified, ""},
		{"modify", policystore.ClassHost, apiRequest(t, "MODIFIED", hostPolicy("hsp-api", "/bin/z")), policypb.PolicyStatus_Modified, ""},
		{"modify unknown applies", policystore.ClassHost, apiRequest(t, "MODIFIED", hostPolicy("hsp-api2", "/bin/w")), policypb.PolicyStatus_Applied, ""},
		{"invalid policy", policystore.ClassHost, []byte(`{"type":"ADDED","object":{"metadata":{"name":"bad"},"spec":{"process":{"matchPaths":[{"path":"relative"}]}}}}`),
			policypb.PolicyStatus_Invalid, "request:"},
		{"invalid JSON", policystore.ClassHost, []byte(`{"type":`), policypb.PolicyStatus_Invalid, "decode request"},
		{"unknown type", policystore.ClassHost, []byte(`{"type":"PATCHED","object":{"metadata":{"name":"x"}}}`), policypb.PolicyStatus_Invalid, "unknown event type"},
		{"kind for another class", policystore.ClassContainer, []byte(`{"type":"ADDED","object":{"kind":"KubeArmorHostPolicy","metadata":{"name":"x"}}}`),
			policypb.PolicyStatus_Invalid, "cannot be sent as a container policy"},
		{"unsafe name", policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("../../etc", "/bin/x")), policypb.PolicyStatus_Invalid, ""},
		{"network disabled", policystore.ClassNetwork, []byte(`{"type":"ADDED","object":{"metadata":{"name":"n"}}}`),
			policypb.PolicyStatus_NotEnabled, "not enforced yet"},
		{"delete unknown", policystore.ClassHost, apiRequest(t, "DELETED", hostPolicy("hsp-none", "/bin/x")), policypb.PolicyStatus_NotExist, "does not exist"},
		{"delete a file's policy", policystore.ClassHost, apiRequest(t, "DELETED", hostPolicy("hsp-file", "/bin/x")), policypb.PolicyStatus_Failure, "remove the file"},
		{"add a file's policy", policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("hsp-file", "/bin/x")), policypb.PolicyStatus_Failure, "change the file"},
		{"delete", policystore.ClassHost, apiRequest(t, "DELETED", hostPolicy("hsp-api2", "/bin/w")), policypb.PolicyStatus_Deleted, ""},
		{"container policy", policystore.ClassContainer, apiRequest(t, "ADDED", `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: ksp-api, namespace: web}
spec:
  selector: {matchLabels: {app: nginx}}
  process: {matchPaths: [{path: /usr/bin/apt}]}
  action: Block
`), policypb.PolicyStatus_Applied, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := apply(tt.class, tt.body)
			if st != tt.status {
				t.Errorf("status = %v (%v), want %v", st, err, tt.status)
			}
			if (tt.err == "") != (err == nil) && tt.status != policypb.PolicyStatus_Invalid || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
	var de *policystore.DiagnosticsError
	if _, err := apply(policystore.ClassHost, []byte(`{"type":"ADDED","object":{"metadata":{"name":"bad"},"spec":{"process":{"matchPaths":[{"path":"relative"}]}}}}`)); !errors.As(err, &de) {
		t.Errorf("invalid policy error %T %v, want *policystore.DiagnosticsError", err, err)
	} else {
		t.Logf("diagnostics: %v", de)
	}
	if _, err := apply(policystore.ClassHost, []byte(`{"type":"DELETED","object":{"metadata":{}}}`)); err == nil {
		t.Error("delete without name accepted")
	}

	want := []string{"hsp-api:/bin/z", "hsp-file:/bin/f", "ksp-api:/usr/bin/apt"}
	if got := names(s); !slices.Equal(got, want) {
		t.Fatalf("snapshot = %v, want %v", got, want)
	}
	files, _ := filepath.Glob(filepath.Join(state, "policies", "*"))
	for i := range files {
		files[i] = filepath.Base(files[i])
	}
	if !slices.Equal(files, []string{"kubearmorhostpolicy-hsp-api.yaml", "kubearmorpolicy-web.ksp-api.yaml"}) {
		t.Errorf("persisted files = %v", files)
	}

	// ProbeData reports the host policies of this host.
	pd, err := s.ProbeData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hp := pd.HostMap["node-1"]; hp == nil || !slices.Equal(hp.PolicyList, []string{"hsp-api", "hsp-file"}) || len(hp.PolicyDataList) != 2 {
		t.Errorf("probe data = %v", pd)
	}

	// Restart: persisted policies come back; a corrupted one is skipped.
	write(t, filepath.Join(state, "policies", "kubearmorhostpolicy-corrupt.yaml"), "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorHostPolicy\nmetadata: {name: corrupt\nspec: [")
	s2 := policystore.New(opts)
	if got := names(s2); !slices.Equal(got, want) {
		t.Errorf("after restart: %v, want %v", got, want)
	}
	st, err := s2.ApplyPolicy(ctx, policystore.ClassHost, apiRequest(t, "DELETED", hostPolicy("hsp-api", "/bin/x")))
	if st != policypb.PolicyStatus_Deleted || err != nil {
		t.Errorf("delete after restart: %v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(state, "policies", "kubearmorhostpolicy-hsp-api.yaml")); !os.IsNotExist(err) {
		t.Errorf("persisted file not removed: %v", err)
	}
	if got := names(policystore.New(opts)); !slices.Equal(got, []string{"hsp-file:/bin/f", "ksp-api:/usr/bin/apt"}) {
		t.Errorf("after second restart: %v", got)
	}
}

func TestHostDisabled(t *testing.T) {
	s := policystore.New(policystore.Options{Disabled: map[policystore.Class]string{policystore.ClassHost: "host policies are disabled (enableKubeArmorHostPolicy: false)"}})
	st, err := s.ApplyPolicy(t.Context(), policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("h", "/bin/x")))
	if st != policypb.PolicyStatus_NotEnabled || !errors.Is(err, policystore.ErrNotEnabled) || !strings.Contains(err.Error(), "enableKubeArmorHostPolicy") {
		t.Errorf("status %v err %v", st, err)
	}
}

func TestPersistFailure(t *testing.T) {
	// A state directory that cannot be created (a file is in the way):
	// the store runs, API applies fail with Failure.
	base := t.TempDir()
	write(t, filepath.Join(base, "file"), "x")
	s := policystore.New(policystore.Options{StateDir: filepath.Join(base, "file")})
	st, err := s.ApplyPolicy(t.Context(), policystore.ClassHost, apiRequest(t, "ADDED", hostPolicy("h", "/bin/x")))
	if st != policypb.PolicyStatus_Failure || err == nil {
		t.Errorf("status %v err %v", st, err)
	}
	if len(s.Snapshot()) != 0 {
		t.Error("policy applied although it could not be persisted")
	}
}

func mustJSON(t *testing.T, y string) []byte {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
