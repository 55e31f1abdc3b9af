package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/docker"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// fakeContainer is a "container": a sleep process in a cgroup of its own,
// as dockerd's cgroupfs driver makes them (/docker/<id> there).
type fakeContainer struct {
	id, name string
	labels   map[string]string
	pid      int
	cgroup   string
}

// fakeDocker answers the Engine API calls the source makes with the
// testdata templates (Docker API 1.43 shapes).
type fakeDocker struct {
	t      *testing.T
	mu     sync.Mutex
	ctrs   map[string]*fakeContainer
	events chan string
	drop   chan struct{} // closed to cut the event streams
	root   string        // cgroup v2 root
	parent string        // cgroup parent of the fake containers
}

func template(t *testing.T, file string, c *fakeContainer, action string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := json.Marshal(c.labels)
	return strings.NewReplacer("__ID__", c.id, "__NAME__", c.name, "__PID__", strconv.Itoa(c.pid),
		"__LABELS__", string(labels), "__ACTION__", action).Replace(string(b))
}

func startFake(t *testing.T) (*fakeDocker, string) {
	h := &identity.Host{}
	root, err := h.Root()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDocker{t: t, ctrs: map[string]*fakeContainer{}, events: make(chan string, 16), drop: make(chan struct{}),
		root: root, parent: "/bwid-docker-" + testenv.RandomHex(4)}
	if err := unix.Mkdir(filepath.Join(root, f.parent), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(filepath.Join(root, f.parent)) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /containers/json", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var all []json.RawMessage
		for _, c := range f.ctrs {
			var one []json.RawMessage
			if err := json.Unmarshal([]byte(template(t, "list.json", c, "")), &one); err != nil {
				t.Error(err)
			}
			all = append(all, one...)
		}
		_ = json.NewEncoder(w).Encode(all)
	})
	mux.HandleFunc("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		c, ok := f.ctrs[r.PathValue("id")]
		if !ok {
			http.Error(w, `{"message":"No such container"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(template(t, "inspect.json", c, "")))
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("filters"); got != `{"type":["container"]}` {
			t.Errorf("events filters %q", got)
		}
		f.mu.Lock()
		drop := f.drop
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case ev := <-f.events:
				_, _ = fmt.Fprintln(w, ev)
				w.(http.Flusher).Flush()
			case <-drop:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { f.disconnect(); _ = srv.Close() })
	return f, sock
}

// run starts a container and returns it.
func (f *fakeDocker) run(name string, labels map[string]string) *fakeContainer {
	f.t.Helper()
	c := &fakeContainer{id: testenv.RandomHex(32), name: name, labels: labels}
	c.cgroup = f.parent + "/" + c.id
	dir := filepath.Join(f.root, c.cgroup)
	if err := unix.Mkdir(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command("sleep", "120")
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	c.pid = cmd.Process.Pid
	f.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = unix.Rmdir(dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(c.pid)), 0o644); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.ctrs[c.id] = c
	f.mu.Unlock()
	return c
}

func (f *fakeDocker) remove(c *fakeContainer) {
	f.mu.Lock()
	delete(f.ctrs, c.id)
	f.mu.Unlock()
}

func (f *fakeDocker) event(c *fakeContainer, action string) {
	f.events <- strings.TrimSpace(template(f.t, "event.json", c, action))
}

// disconnect ends the current event streams, as a daemon restart does.
func (f *fakeDocker) disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.drop)
	f.drop = make(chan struct{})
}

func waitFor(t *testing.T, reg *identity.Registry, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := reg.Changed()
		if ok() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s: %v", what, reg.Containers())
		}
	}
}

func find(reg *identity.Registry, id string) *identity.Container {
	for _, c := range reg.Containers() {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func TestDockerSource(t *testing.T) {
	f, sock := startFake(t)
	web := f.run("web", map[string]string{"app": "web", identity.LabelNamespace: "team"})
	reg := identity.NewRegistry(identity.Options{Sources: []identity.Source{
		docker.New(docker.Options{Address: sock, Backoff: identity.Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}}),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- reg.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	t.Run("a running container is listed with its identity", func(t *testing.T) {
		waitFor(t, reg, "web", func() bool { return find(reg, web.id) != nil })
		c := find(reg, web.id)
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(f.root, web.cgroup), &st); err != nil {
			t.Fatal(err)
		}
		if c.Runtime != identity.RuntimeDocker || c.Name != "web" || c.Image != "busybox:latest" ||
			c.ImageDigest != "sha256:5b0f33c83a97f5f7d12698df6732098b0cdb860d377f6307b68efe2c6821296f" ||
			!maps.Equal(c.Labels, web.labels) || c.Namespace != "team" || c.PID != uint32(web.pid) ||
			c.CgroupID != st.Ino || c.CgroupPath != web.cgroup ||
			!c.StartedAt.Equal(time.Date(2026, 11, 26, 6, 30, 1, 500000000, time.UTC)) {
			t.Errorf("%+v", c)
		}
		if w := c.Workload(); !w.Standalone || w.ContainerName != "web" || w.Namespace != "team" {
			t.Errorf("workload %+v", w)
		}
	})
	var db *fakeContainer
	t.Run("start and die events add and remove", func(t *testing.T) {
		db = f.run("db", nil)
		f.event(db, "start")
		waitFor(t, reg, "db started", func() bool { return find(reg, db.id) != nil })
		if c := find(reg, db.id); c.Namespace != identity.DefaultNamespace || c.Name != "db" {
			t.Errorf("%+v", c)
		}
		f.event(web, "exec_die") // an exec ending is not the container's
		f.remove(web)
		f.event(web, "die")
		waitFor(t, reg, "web gone", func() bool { return find(reg, web.id) == nil })
		if find(reg, db.id) == nil {
			t.Error("db removed with web")
		}
	})
	t.Run("after a lost connection the list repairs missed exits", func(t *testing.T) {
		f.remove(db)
		f.disconnect()
		waitFor(t, reg, "db gone", func() bool { return len(reg.Containers()) == 0 })
		late := f.run("late", nil)
		f.event(late, "start")
		waitFor(t, reg, "late", func() bool { return find(reg, late.id) != nil })
	})
}
