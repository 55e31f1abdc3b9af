// Package policystore keeps the set of policies bulwarkd applies.
//
// Policies come from two sources: the files of a policy directory, watched
// with fsnotify, and the PolicyService gRPC API (karmor vm policy add and
// bulwark apply), whose policies persist in StateDir/policies and are
// restored at start.
//
// # Policy directory
//
// Every *.yaml, *.yml and *.json file directly in Options.Dir (not in
// subdirectories, and not hidden files) is loaded with internal/policy in
// strict mode. Changes take effect after a short debounce
// (Options.Debounce). A file with any error is rejected as a whole: its
// diagnostics are logged and the previous good version of that file stays
// in force (or nothing, if it never loaded). Deleting a file removes its
// policies.
//
// # API policies
//
// ApplyPolicy takes KubeArmor's PolicyService request
// {"type":"ADDED|MODIFIED|DELETED","object":{metadata,spec}} for a class
// (container, host, network) and answers with KubeArmor's statuses:
// Applied (new), Modified (replaced), Deleted, NotExist (deleting an
// unknown policy), Invalid (the request or the policy is invalid; the
// error is a *DiagnosticsError), NotEnabled (the class is disabled) and
// Failure (persisting failed, or the policy is defined by a file of the
// policy directory). The object may omit apiVersion and kind: the class
// supplies them (KubeArmorPolicy for container, unless the object says
// KubeArmorClusterPolicy). Applied policies are written atomically to
// StateDir/policies/<kind>-<name>.yaml (<kind>-<namespace>.<name>.yaml for
// a namespaced KubeArmorPolicy); a persisted file that no longer loads is
// reported and skipped, never fatal.
//
// # Identity and conflicts
//
// A policy is identified by kind, namespace and name. If a file and the
// API define the same policy, the API's version is used and the conflict
// is logged; applying over the API a policy that a file defines fails.
// Between files, the first in path order wins.
//
// # Subscribers
//
// Snapshot returns the current policies, sorted, as one immutable slice;
// Subscribe delivers a coalesced signal after every change, so an enforcer
// recompiles from a consistent snapshot.
package policystore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/server"
)

// Class is a PolicyService policy class, the method a policy arrives by.
// It is internal/server's type, so that *Store is a server.PolicyAPI.
type Class = server.PolicyClass

// Policy classes.
const (
	ClassContainer = server.PolicyClassContainer // containerPolicy: KubeArmorPolicy, KubeArmorClusterPolicy
	ClassHost      = server.PolicyClassHost      // hostPolicy: KubeArmorHostPolicy
	ClassNetwork   = server.PolicyClassNetwork   // networkPolicy: KubeArmorNetworkPolicy
)

var _ server.PolicyAPI = (*Store)(nil)

// ClassOf returns the class of a policy kind.
func ClassOf(k policy.Kind) Class {
	switch k {
	case policy.KindHostPolicy:
		return ClassHost
	case policy.KindNetworkPolicy:
		return ClassNetwork
	}
	return ClassContainer
}

// DefaultDebounce is the policy directory debounce when Options.Debounce
// is zero.
const DefaultDebounce = 100 * time.Millisecond

// Options configure a Store. The zero value is a store with no policy
// directory, no persistence and every class enabled.
type Options struct {
	// Dir is the policy directory; empty for none. A missing directory is
	// logged, not an error.
	Dir string
	// StateDir holds persisted API policies in StateDir/policies; empty
	// keeps API policies in memory only.
	StateDir string
	// Hostname selects the host policies ProbeData reports.
	Hostname string
	// Disabled maps a disabled class to the reason, e.g. ClassHost to
	// "host policies are disabled (enableKubeArmorHostPolicy: false)". API
	// requests for it get NotEnabled; its policies in files are skipped.
	Disabled map[Class]string
	// Debounce: see DefaultDebounce.
	Debounce time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// ID identifies a policy.
type ID struct {
	Kind      policy.Kind
	Namespace string
	Name      string
}

func (id ID) String() string {
	if id.Namespace == "" {
		return string(id.Kind) + "/" + id.Name
	}
	return string(id.Kind) + "/" + id.Namespace + "/" + id.Name
}

// IDOf returns p's identity.
func IDOf(p *policy.Policy) ID { return ID{Kind: p.Kind, Namespace: p.Namespace, Name: p.Name} }

// Store is the set of applied policies. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	files map[string][]*policy.Policy  // policy-dir file → its last good policies
	bad   map[string]bool              // files whose current version is rejected
	sums  map[string][sha256.Size]byte // content hash of each file's last read
	api   map[ID]*policy.Policy
	// persistErr, when set, is why API policies cannot be persisted.
	persistErr error

	snap atomic.Pointer[snapshot]
	subs map[chan struct{}]struct{}
}

type snapshot struct {
	version  uint64
	policies []*policy.Policy
}

// New returns a store loaded from the policy directory and the persisted
// API policies. Problems with single files are logged, not returned.
func New(opts Options) *Store {
	s := &Store{opts: opts, log: opts.Logger, files: map[string][]*policy.Policy{}, bad: map[string]bool{},
		sums: map[string][sha256.Size]byte{},
		api:  map[ID]*policy.Policy{}, subs: map[chan struct{}]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.opts.Debounce <= 0 {
		s.opts.Debounce = DefaultDebounce
	}
	s.snap.Store(&snapshot{})
	s.restore()
	s.rescan()
	s.mu.Lock()
	s.rebuildLocked()
	s.mu.Unlock()
	return s
}

// Snapshot returns the applied policies sorted by kind, namespace and
// name. The slice and the policies must not be modified.
func (s *Store) Snapshot() []*policy.Policy { return s.snap.Load().policies }

// Version increases with every change of the snapshot.
func (s *Store) Version() uint64 { return s.snap.Load().version }

// Subscribe returns a channel that receives a value after the snapshot
// changes (several changes may be coalesced into one value) and a function
// that ends the subscription.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

// Stats counts where the applied policies come from.
type Stats struct {
	Files         int      // policy-directory files in force
	FilePolicies  int      // policies from those files
	APIPolicies   int      // policies applied over the API
	RejectedFiles []string // files whose current version is rejected
}

// Stats returns the current counts.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Files: len(s.files), APIPolicies: len(s.api)}
	for _, ps := range s.files {
		st.FilePolicies += len(ps)
	}
	for f := range s.bad {
		st.RejectedFiles = append(st.RejectedFiles, f)
	}
	slices.Sort(st.RejectedFiles)
	return st
}

// rebuildLocked recomputes the snapshot and notifies subscribers.
func (s *Store) rebuildLocked() {
	byID := map[ID]*policy.Policy{}
	owner := map[ID]string{}
	for id, p := range s.api {
		byID[id] = p
		owner[id] = "the PolicyService API"
	}
	for _, f := range slices.Sorted(maps.Keys(s.files)) {
		for _, p := range s.files[f] {
			id := IDOf(p)
			if prev, dup := owner[id]; dup {
				s.log.Warn("policy defined twice, keeping the first", "policy", id.String(), "kept", prev, "ignored", f)
				continue
			}
			byID[id] = p
			owner[id] = f
		}
	}
	list := make([]*policy.Policy, 0, len(byID))
	for _, p := range byID {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b *policy.Policy) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	s.snap.Store(&snapshot{version: s.snap.Load().version + 1, policies: list})
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// enabled filters out the policies of disabled classes, logging them.
func (s *Store) enabled(ps []*policy.Policy, source string) []*policy.Policy {
	out := ps[:0:0]
	for _, p := range ps {
		if reason, off := s.opts.Disabled[ClassOf(p.Kind)]; off {
			s.log.Warn("policy skipped: its kind is not enabled", "policy", IDOf(p).String(), "source", source, "reason", reason)
			continue
		}
		out = append(out, p)
	}
	return out
}

// DiagnosticsError is the error of a policy that failed validation.
type DiagnosticsError struct {
	Diagnostics []policy.Diagnostic
}

func (e *DiagnosticsError) Error() string {
	var lines []string
	for _, d := range e.Diagnostics {
		if d.Severity == policy.SeverityError {
			lines = append(lines, d.String())
		}
	}
	if len(lines) == 0 {
		return "invalid policy"
	}
	return strings.Join(lines, "\n")
}

// logDiagnostics logs the errors and warnings of res.
func (s *Store) logDiagnostics(msg string, res *policy.Result) {
	for _, d := range res.Diagnostics {
		switch d.Severity {
		case policy.SeverityError:
			s.log.Error(msg, "diagnostic", d.String())
		case policy.SeverityWarning:
			s.log.Warn(msg, "diagnostic", d.String())
		}
	}
}

// Start watches the policy directory until ctx is done. It is a Runnable.
func (s *Store) Start(ctx context.Context) error {
	if s.opts.Dir == "" {
		<-ctx.Done()
		return nil
	}
	return s.watch(ctx)
}
