package containerd_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/containerd"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// env is a private containerd with an image, and a registry following it.
type env struct {
	t   *testing.T
	d   *testenv.Containerd
	ctx context.Context // in the test's namespace
	ns  string
	img client.Image
	reg *identity.Registry
}

func newEnv(t *testing.T) *env {
	d := testenv.StartContainerd(t)
	// Before the daemon's cleanup, which removes the log.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log:\n%s", d.Log())
		}
	})
	ctx, ns := d.Namespace(t.Context(), "bwid")
	img := d.ImportBusybox(ctx, "docker.io/library/busybox:bulwark")
	return &env{t: t, d: d, ctx: ctx, ns: ns, img: img}
}

// newRegistry returns a registry following the env's containerd.
func (e *env) newRegistry() *identity.Registry {
	e.reg = identity.NewRegistry(identity.Options{Sources: []identity.Source{
		containerd.New(containerd.Options{Address: e.d.Address, Namespaces: []string{e.ns}, Backoff: identity.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}}),
	}})
	return e.reg
}

// startRegistry runs a registry on the env's containerd until the test ends.
func (e *env) startRegistry() *identity.Registry {
	e.newRegistry()
	e.run()
	return e.reg
}

// run starts e.reg until the test ends.
func (e *env) run() {
	testenv.RunRegistry(e.t, e.reg)
}

// waitContainer waits until the registry holds container id.
func (e *env) waitContainer(id string) *identity.Container {
	e.t.Helper()
	return testenv.WaitContainer(e.t, e.reg, "container "+id, testenv.HasID(id))
}

// waitGone waits until the registry no longer holds container id.
func (e *env) waitGone(id string) {
	e.t.Helper()
	testenv.WaitNoContainer(e.t, e.reg, "container "+id, testenv.HasID(id))
}

func cgroupOfPID(t *testing.T, pid uint32) (string, uint64) {
	t.Helper()
	h := &identity.Host{}
	p, id, err := h.CgroupOfPID(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p, id
}

func TestTwoContainersGetDistinctIdentities(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Add(-time.Second)
	_, t1 := e.d.Run(e.ctx, "web", e.img, testenv.RunOptions{Labels: map[string]string{"app": "web", identity.LabelNamespace: "team1"}})
	c2, t2 := e.d.Run(e.ctx, "db", e.img, testenv.RunOptions{Labels: map[string]string{"app": "db"}})
	reg := e.startRegistry()
	web := e.waitContainer("web")
	db := e.waitContainer("db")

	root, err := reg.Host().Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c      *identity.Container
		task   client.Task
		labels map[string]string
		ns     string
	}{
		{web, t1, map[string]string{"app": "web", identity.LabelNamespace: "team1"}, "team1"},
		{db, t2, map[string]string{"app": "db"}, identity.DefaultNamespace},
	} {
		t.Run(tc.c.ID+" has its own name, image, labels, pid, cgroup and namespaces", func(t *testing.T) {
			c := tc.c
			if c.Runtime != identity.RuntimeContainerd || c.RuntimeNamespace != e.ns || c.Endpoint != e.d.Address {
				t.Errorf("runtime %q namespace %q endpoint %q", c.Runtime, c.RuntimeNamespace, c.Endpoint)
			}
			if c.Name != c.ID || c.Image != "docker.io/library/busybox:bulwark" || len(c.ImageDigest) != len("sha256:")+64 {
				t.Errorf("name %q image %q digest %q", c.Name, c.Image, c.ImageDigest)
			}
			if !maps.Equal(c.Labels, tc.labels) || c.Namespace != tc.ns {
				t.Errorf("labels %v namespace %q, want %v %q", c.Labels, c.Namespace, tc.labels, tc.ns)
			}
			if c.PID != tc.task.Pid() {
				t.Errorf("pid %d, want %d", c.PID, tc.task.Pid())
			}
			testenv.CheckRun(t, c, root, "/"+e.ns+"/"+c.ID, before)
			w := c.Workload()
			if !w.Standalone || w.ContainerName != c.ID || w.Namespace != tc.ns || !maps.Equal(w.Labels, tc.labels) {
				t.Errorf("workload %+v", w)
			}
		})
	}
	if web.CgroupID == db.CgroupID || web.PidNS == db.PidNS || web.MntNS == db.MntNS {
		t.Errorf("identities overlap: %+v %+v", web, db)
	}

	t.Run("a process started in each container is attributed to it by cgroup id", func(t *testing.T) {
		for _, tc := range []struct {
			task client.Task
			want *identity.Container
		}{{t1, web}, {t2, db}} {
			p := e.d.Exec(e.ctx, tc.task, "sleep", "60")
			_, id := cgroupOfPID(t, p.Pid())
			got, ok := reg.Lookup(id)
			if !ok || got.ID != tc.want.ID {
				t.Errorf("exec pid %d in %s: Lookup(%d) = %v, %v", p.Pid(), tc.want.ID, id, got, ok)
			}
			if got, ok := reg.LookupPID(p.Pid()); !ok || got.ID != tc.want.ID {
				t.Errorf("LookupPID(%d) = %v, %v", p.Pid(), got, ok)
			}
			if _, ok := reg.LookupPID(uint32(os.Getpid())); ok {
				t.Errorf("the test process is attributed to a container")
			}
		}
	})

	t.Run("a label update reaches the registry without a new identity", func(t *testing.T) {
		if _, err := c2.SetLabels(e.ctx, map[string]string{"tier": "data"}); err != nil {
			t.Fatal(err)
		}
		got := testenv.WaitContainer(t, e.reg, "db labelled tier=data", func(c *identity.Container) bool { return c.ID == "db" && c.Labels["tier"] == "data" })
		if got.CgroupID != db.CgroupID || got.PID != db.PID {
			t.Errorf("update changed the run: %+v", got)
		}
	})
}

func TestRestartedContainerGetsNewIdentity(t *testing.T) {
	e := newEnv(t)
	c, task := e.d.Run(e.ctx, "app", e.img, testenv.RunOptions{})
	reg := e.startRegistry()
	first := e.waitContainer("app")
	events, cancel := reg.Subscribe()
	defer cancel()
	if ev := <-events; ev.Type != identity.Added || ev.Container != first {
		t.Fatalf("first event %v %+v, want the running container", ev.Type, ev.Container)
	}

	e.d.StopTask(e.ctx, task)
	ev := testenv.NextEvent(t, events)
	if ev.Type != identity.Removed || ev.Container.CgroupID != first.CgroupID || ev.Container.StoppedAt.IsZero() {
		t.Fatalf("after stop: %v %+v", ev.Type, ev.Container)
	}
	if _, ok := reg.Lookup(first.CgroupID); ok {
		t.Errorf("the stopped run's cgroup id still resolves")
	}

	task = e.d.StartTask(e.ctx, c)
	ev = testenv.NextEvent(t, events)
	second := ev.Container
	if ev.Type != identity.Added || second.ID != "app" || second.PID != task.Pid() {
		t.Fatalf("after restart: %v %+v", ev.Type, second)
	}
	if second.CgroupID == first.CgroupID || second.PID == first.PID || !second.StartedAt.After(first.StartedAt) && !second.StartedAt.Equal(first.StartedAt) {
		t.Errorf("restart kept the identity: first %+v second %+v", first, second)
	}
	if got, ok := reg.Lookup(second.CgroupID); !ok || got != second {
		t.Errorf("Lookup(new cgroup) = %v, %v", got, ok)
	}
	if n := len(reg.Containers()); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
}

func TestEarlyEventIsHeldThenEnriched(t *testing.T) {
	e := newEnv(t)
	// Runtimes name containers with 64 hex digits; the cgroup path shows
	// it is a container before the runtime says so.
	id := testenv.RandomHex(32)
	_, task := e.d.Run(e.ctx, id, e.img, testenv.RunOptions{Labels: map[string]string{"app": "early"}})
	_, cgroupID := cgroupOfPID(t, task.Pid())

	// The registry exists but its source has not reported anything yet.
	e.newRegistry()
	type emitted struct {
		event string
		res   identity.Resolution
	}
	out := make(chan emitted, 10)
	p := identity.NewPending(e.reg, identity.PendingOptions{MaxWait: time.Minute}, func(ev string, res identity.Resolution) {
		out <- emitted{ev, res}
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = p.Run(ctx) }()

	p.Submit(cgroupID, "exec")
	p.Submit(cgroupID, "open")
	select {
	case got := <-out:
		t.Fatalf("emitted before the container was known: %+v", got)
	case <-time.After(200 * time.Millisecond):
	}
	if s := p.Stats(); s.Held != 2 || s.Waiting != 2 {
		t.Fatalf("stats %+v, want 2 held", s)
	}

	// Now the runtime reports the container.
	e.run()
	for _, want := range []string{"exec", "open"} {
		select {
		case got := <-out:
			if got.event != want || got.res.Status != identity.StatusContainer || got.res.Container == nil ||
				got.res.Container.ID != id || got.res.Container.Labels["app"] != "early" || got.res.Expired {
				t.Fatalf("emitted %q %+v, want %q enriched with container %s", got.event, got.res, want, id)
			}
		case <-time.After(testenv.WaitTimeout):
			t.Fatalf("%q never emitted", want)
		}
	}
	if s := p.Stats(); s.Enriched != 2 || s.Waiting != 0 || s.Expired != 0 {
		t.Errorf("stats %+v", s)
	}
	// Later events of the container are enriched at once.
	p.Submit(cgroupID, "write")
	if got := <-out; got.event != "write" || got.res.Container == nil || got.res.Container.ID != id {
		t.Errorf("later event: %+v", got)
	}
}

func TestRegistryRecoversAfterContainerdRestart(t *testing.T) {
	e := newEnv(t)
	c1, _ := e.d.Run(e.ctx, "before", e.img, testenv.RunOptions{})
	e.startRegistry()
	before := e.waitContainer("before")

	e.d.Stop()
	time.Sleep(300 * time.Millisecond) // let the source notice and back off
	e.d.Restart()

	_, task2 := e.d.Run(e.ctx, "after", e.img, testenv.RunOptions{})
	after := e.waitContainer("after")
	if after.PID != task2.Pid() {
		t.Errorf("after restart: pid %d, want %d", after.PID, task2.Pid())
	}
	// The container that ran through the restart keeps its identity.
	if got := e.waitContainer("before"); got.CgroupID != before.CgroupID || got.PID != before.PID {
		t.Errorf("container running through the restart changed: %+v -> %+v", before, got)
	}
	// And its exit is still seen.
	task1, err := c1.Task(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.d.StopTask(e.ctx, task1)
	e.waitGone("before")
}

func TestContainerdRestartWhileStoppedRemovesExitedContainers(t *testing.T) {
	e := newEnv(t)
	_, task := e.d.Run(e.ctx, "gone", e.img, testenv.RunOptions{})
	e.startRegistry()
	e.waitContainer("gone")
	e.d.Stop()
	// The task exits while containerd is down: no event will tell.
	if err := unix.Kill(int(task.Pid()), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.d.Restart()
	e.waitGone("gone")
}

func TestCRISandboxIsSkippedAndGivesPodLabels(t *testing.T) {
	e := newEnv(t)
	pod := map[string]string{
		identity.LabelPodUID: "0d5c6d1e-uid", identity.LabelPodName: "web-7d9f", identity.LabelPodNamespace: "shop",
	}
	sandboxLabels := map[string]string{identity.LabelCRIKind: "sandbox", "app": "web", "tier": "front"}
	appLabels := map[string]string{identity.LabelCRIKind: "container", identity.LabelKubeContainerName: "nginx"}
	for k, v := range pod {
		sandboxLabels[k], appLabels[k] = v, v
	}
	sandboxID, appID := testenv.RandomHex(32), testenv.RandomHex(32)
	e.d.Run(e.ctx, sandboxID, e.img, testenv.RunOptions{Labels: sandboxLabels})
	e.d.Run(e.ctx, appID, e.img, testenv.RunOptions{Labels: appLabels})
	e.startRegistry()
	app := e.waitContainer(appID)
	if len(e.reg.Containers()) != 1 {
		t.Errorf("sandbox not skipped: %v", e.reg.Containers())
	}
	if app.PodName != "web-7d9f" || app.PodNamespace != "shop" || app.KubeContainerName != "nginx" || app.Namespace != "shop" || app.Name != "nginx" {
		t.Errorf("pod fields: %+v", app)
	}
	want := map[string]string{"app": "web", "tier": "front"}
	if !maps.Equal(app.PodLabels, want) {
		t.Errorf("pod labels %v, want %v", app.PodLabels, want)
	}
	w := app.Workload()
	if w.Standalone || w.Namespace != "shop" || w.ContainerName != "nginx" || !maps.Equal(w.Labels, want) {
		t.Errorf("workload %+v", w)
	}

	policies := loadPolicies(t,
		ksp("web-nginx", "shop", `{app: web, kubearmor.io/container.name: "[nginx]"}`),
		ksp("web-sidecar", "shop", `{app: web, kubearmor.io/container.name: "[ngin]"}`))
	if got := names(identity.SelectPolicies(policies, app)); !slices.Equal(got, []string{"web-nginx"}) {
		t.Errorf("selected %v, want [web-nginx] (exact container names in Kubernetes)", got)
	}
}

func TestStandalonePolicySelectionByContainerNameRegexAndLabels(t *testing.T) {
	e := newEnv(t)
	e.d.Run(e.ctx, "c1", e.img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: "web-frontend", "app": "web"}})
	e.d.Run(e.ctx, "c2", e.img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: "db-primary", "app": "db", identity.LabelNamespace: "data"}})
	e.startRegistry()
	web, db := e.waitContainer("c1"), e.waitContainer("c2")
	if web.Name != "web-frontend" || db.Name != "db-primary" {
		t.Fatalf("names %q %q", web.Name, db.Name)
	}
	policies := loadPolicies(t,
		ksp("web-by-regex", identity.DefaultNamespace, `{kubearmor.io/container.name: "web-.*"}`),
		ksp("anything-frontend", identity.DefaultNamespace, `{kubearmor.io/container.name: "front"}`),
		ksp("db-by-label", "data", `{app: db}`),
		ksp("db-wrong-namespace", identity.DefaultNamespace, `{app: db}`),
		ksp("anchored-db", "data", `{kubearmor.io/container.name: "^db-primary$", app: db}`))
	for _, tc := range []struct {
		c    *identity.Container
		want []string
	}{
		{web, []string{"web-by-regex", "anything-frontend"}},
		{db, []string{"db-by-label", "anchored-db"}},
	} {
		if got := names(identity.SelectPolicies(policies, tc.c)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: selected %v, want %v", tc.c.Name, got, tc.want)
		}
	}
}

// ksp is a KubeArmorPolicy blocking /bin/sh for the given matchLabels.
func ksp(name, namespace, matchLabels string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: %s, namespace: %s}
spec:
  selector:
    matchLabels: %s
  process: {matchPaths: [{path: /bin/sh}]}
  action: Block
`, name, namespace, matchLabels)
}

func loadPolicies(t *testing.T, docs ...string) []*policy.Policy {
	t.Helper()
	res := policy.LoadBytes("test.yaml", []byte(strings.Join(docs, "---\n")), policy.Options{})
	if res.Errors() > 0 {
		t.Fatalf("policies: %v", res.Diagnostics)
	}
	return res.Policies
}

func names(ps []*policy.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
