package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a Watcher waits for a burst of file events to
// settle when WatchOptions.Debounce is zero.
const DefaultDebounce = 100 * time.Millisecond

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Load is how the configuration is read again; Load.File is watched.
	Load Options
	// Logger receives reload results; nil discards them.
	Logger *slog.Logger
	// OnChange is called, from the Watcher's goroutine, after a reload that
	// changed dynamic keys, with the new configuration and the changed
	// dynamic keys. It may be nil.
	OnChange func(cfg *Config, changed []string)
	// OnHangup is called, from the Watcher's goroutine, on SIGHUP before
	// the reload (log files are reopened then, for rotation). It may be nil.
	OnHangup func()
	// Debounce: see DefaultDebounce.
	Debounce time.Duration
	// NoSignal disables reloading on SIGHUP (tests that run in parallel).
	NoSignal bool
}

// Watcher keeps the running configuration and reloads it when its file
// changes or the process receives SIGHUP.
type Watcher struct {
	opts WatchOptions
	log  *slog.Logger
	cur  atomic.Pointer[Config]
	mu   sync.Mutex // serialises reloads
	// hup receives SIGHUP from NewWatcher on: a SIGHUP before Start runs
	// waits for it instead of killing the process (Go's default).
	hup chan os.Signal
}

// NewWatcher returns a Watcher whose running configuration is initial.
func NewWatcher(initial *Config, opts WatchOptions) *Watcher {
	w := &Watcher{opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.opts.Debounce <= 0 {
		w.opts.Debounce = DefaultDebounce
	}
	w.cur.Store(initial)
	if !opts.NoSignal {
		w.hup = make(chan os.Signal, 1)
		signal.Notify(w.hup, syscall.SIGHUP)
	}
	return w
}

// Current returns the running configuration.
func (w *Watcher) Current() *Config { return w.cur.Load() }

// Reload reads the configuration again. When it is invalid the running
// configuration stays and the error is returned (and logged). Otherwise the
// dynamic keys of the new configuration take effect; changes to other keys
// are logged as needing a restart. It returns the changed dynamic keys.
func (w *Watcher) Reload() ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	next, err := Load(w.opts.Load)
	if err != nil {
		w.log.Error("configuration reload rejected, keeping the running configuration", "file", w.opts.Load.File, "error", err)
		return nil, err
	}
	cur := w.cur.Load()
	applied := cur.clone()
	var dynamic, static []string
	for _, k := range keys {
		nv := k.format(next)
		if nv == k.format(cur) {
			continue
		}
		if !k.Dynamic {
			static = append(static, k.Name)
			continue
		}
		if err := k.parse(applied, nv); err != nil {
			// Cannot happen: nv was produced by a successful parse.
			return nil, fmt.Errorf("reload %s: %w", k.Name, err)
		}
		applied.origins[k.Name] = next.Origin(k.Name)
		dynamic = append(dynamic, k.Name)
	}
	if len(static) > 0 {
		w.log.Warn("configuration keys changed that need a restart, ignored until then", "keys", static)
	}
	if len(dynamic) == 0 {
		w.log.Info("configuration reloaded, no dynamic key changed", "file", w.opts.Load.File)
		return nil, nil
	}
	w.cur.Store(applied)
	w.log.Info("configuration reloaded", "file", w.opts.Load.File, "changed", dynamic)
	if w.opts.OnChange != nil {
		w.opts.OnChange(applied, dynamic)
	}
	return dynamic, nil
}

func (c *Config) clone() *Config {
	n := *c
	n.origins = make(map[string]Origin, len(c.origins))
	for k, v := range c.origins {
		n.origins[k] = v
	}
	n.Warnings = nil
	return &n
}

// Start watches the configuration file and SIGHUP until ctx is done. Without
// a file it only handles SIGHUP (which then re-reads the environment and
// flags, a no-op). It is a Runnable.
func (w *Watcher) Start(ctx context.Context) error {
	hup := w.hup
	if hup != nil {
		defer signal.Stop(hup)
	}
	var events chan fsnotify.Event
	var errs chan error
	file := w.opts.Load.File
	if file != "" {
		fw, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("watch config: %w", err)
		}
		defer fw.Close()
		// Watch the directory: editors and config management replace the
		// file by renaming a new one over it, which ends a watch on the file.
		if err := fw.Add(filepath.Dir(file)); err != nil {
			return fmt.Errorf("watch config %s: %w", file, err)
		}
		events, errs = fw.Events, fw.Errors
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	target := filepath.Clean(file)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			w.log.Info("SIGHUP received, reloading configuration")
			if w.opts.OnHangup != nil {
				w.opts.OnHangup()
			}
			_, _ = w.Reload()
		case ev, ok := <-events:
			if !ok {
				return errors.New("config watcher closed")
			}
			if filepath.Clean(ev.Name) == target && ev.Op != fsnotify.Chmod {
				timer.Reset(w.opts.Debounce)
			}
		case err, ok := <-errs:
			if !ok {
				return errors.New("config watcher closed")
			}
			w.log.Warn("config file watch error", "error", err)
		case <-timer.C:
			if _, err := os.Stat(file); err != nil {
				w.log.Warn("configuration file is gone, keeping the running configuration", "file", file, "error", err)
				continue
			}
			_, _ = w.Reload()
		}
	}
}
