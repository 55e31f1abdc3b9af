package policystore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bulwark-security/bulwark/internal/policy"
)

// isPolicyFile reports whether name, a file directly in the policy
// directory, is loaded: *.yaml, *.yml or *.json, not hidden (editors'
// swap and temporary files start with a dot).
func isPolicyFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// loadFileLocked (re)loads one policy file, or forgets it when it is gone.
// It reports whether the policies in force changed. A file whose content
// did not change since it was last read is not loaded again.
func (s *Store) loadFileLocked(path string) bool {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !info.Mode().IsRegular()) {
		_, had := s.files[path]
		delete(s.files, path)
		delete(s.bad, path)
		delete(s.sums, path)
		if had {
			s.log.Info("policy file removed", "file", path)
		}
		return had
	}
	data, err := readPolicyFile(path)
	if err != nil {
		// Unreadable (e.g. removed between stat and open): keep what we have.
		s.log.Error("policy file rejected, keeping its previous version", "file", path, "error", err)
		s.bad[path] = true
		return false
	}
	sum := sha256.Sum256(data)
	if prev, ok := s.sums[path]; ok && prev == sum {
		return false
	}
	s.sums[path] = sum
	res := policy.LoadBytes(path, data, policy.Options{})
	if n := res.Errors(); n > 0 {
		s.logDiagnostics("policy file rejected", res)
		_, had := s.files[path]
		s.log.Error("policy file rejected, keeping its previous version", "file", path, "errors", n, "previous_in_force", had)
		s.bad[path] = true
		return false
	}
	s.logDiagnostics("policy file warning", res)
	s.files[path] = s.enabled(res.Policies, path)
	delete(s.bad, path)
	s.log.Info("policy file loaded", "file", path, "policies", len(s.files[path]))
	return true
}

// readPolicyFile reads path up to one byte more than policy's size limit,
// so that LoadBytes reports an oversized file.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, policy.DefaultMaxFileSize+1))
}

// watch applies policy-directory changes until ctx is done.
func (s *Store) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy dir: %w", err)
	}
	defer w.Close()
	if err := w.Add(s.opts.Dir); err != nil {
		// A missing directory is not fatal: the agent runs on API policies.
		s.log.Warn("policy directory not watched", "dir", s.opts.Dir, "error", err)
		<-ctx.Done()
		return nil
	}
	// Changes between the initial scan and the watch: rescan once.
	s.rescan()

	dirty := map[string]bool{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("policy dir watcher closed")
			}
			if ev.Op == fsnotify.Chmod || !isPolicyFile(ev.Name) || filepath.Dir(ev.Name) != filepath.Clean(s.opts.Dir) {
				continue
			}
			dirty[ev.Name] = true
			timer.Reset(s.opts.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("policy dir watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				s.log.Warn("policy dir events lost, rescanning", "dir", s.opts.Dir)
				s.rescan()
				continue
			}
			s.log.Warn("policy dir watch error", "error", err)
		case <-timer.C:
			s.mu.Lock()
			changed := false
			for f := range dirty {
				changed = s.loadFileLocked(f) || changed
			}
			clear(dirty)
			if changed {
				s.rebuildLocked()
			}
			s.mu.Unlock()
		}
	}
}

// rescan reloads every file of the directory and forgets files that are
// gone.
func (s *Store) rescan() {
	if s.opts.Dir == "" {
		return
	}
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		s.log.Warn("policy directory not readable", "dir", s.opts.Dir, "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	changed := false
	for _, e := range entries {
		if isPolicyFile(e.Name()) {
			p := filepath.Join(s.opts.Dir, e.Name())
			seen[p] = true
			changed = s.loadFileLocked(p) || changed
		}
	}
	for p := range s.files {
		if !seen[p] {
			changed = s.loadFileLocked(p) || changed
		}
	}
	if changed {
		s.rebuildLocked()
	}
}
