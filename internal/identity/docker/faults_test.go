package docker_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/docker"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// syncRecorder is an identity.Sink that keeps the Sync calls only.
type syncRecorder chan []*identity.Container

func (syncRecorder) Upsert(*identity.Container)       {}
func (syncRecorder) Remove(string, string, time.Time) {}
func (s syncRecorder) Sync(running []*identity.Container) {
	select {
	case s <- running:
	default: // the test has seen enough
	}
}

// TestDaemonFaultsEndTheSessionAndAreRetried covers what a real dockerd
// does not do on demand (the real daemon's behaviour is tested in
// docker_test.go): an error status, a container gone between listing and
// inspecting it, a malformed event stream.
func TestDaemonFaultsEndTheSessionAndAreRetried(t *testing.T) {
	var lists atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, _ *http.Request) {
		if lists.Add(1) == 1 {
			http.Error(w, `{"message":"busy"}`, http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `[{"Id":"gone"},{"Id":"alive"}]`)
	})
	mux.HandleFunc("GET /containers/gone/json", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"No such container: gone"}`, http.StatusNotFound)
	})
	mux.HandleFunc("GET /containers/alive/json", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"Id":"alive","Name":"/alive","State":{"Running":true,"Pid":4242},"Config":{"Image":"busybox"}}`)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"Type":"container","Action":`+"\x00")
	})
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	src := docker.New(docker.Options{Address: sock, Backoff: identity.Backoff{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	syncs := make(syncRecorder, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, syncs) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// The first list fails; each session after it lists, then breaks on
	// the event stream: two lists prove the retry after each fault.
	for i := range 2 {
		select {
		case running := <-syncs:
			if len(running) != 1 || running[0].ID != "alive" || running[0].Name != "alive" || running[0].PID != 4242 {
				t.Fatalf("sync %d: %v, want only alive (gone skipped)", i, running)
			}
		case <-time.After(testenv.WaitTimeout):
			t.Fatalf("sync %d never came (%d lists)", i, lists.Load())
		}
	}
}
