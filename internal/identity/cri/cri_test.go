package cri_test

import (
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/cri"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// env is containerd's CRI plugin, as a CRI runtime, and a registry
// following it with the cri Source.
type env struct {
	t   *testing.T
	rt  *testenv.CRI
	reg *identity.Registry
	log testenv.SyncBuffer
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, rt: testenv.StartCRI(t)}
	// After the registry has stopped (t.Cleanup is last in, first out).
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", e.log.String())
		}
	})
	return e
}

// start runs a registry on the runtime until the test ends; poll forces
// the polling fallback.
func (e *env) start(poll bool) {
	src := cri.New(cri.Options{
		Address:      e.rt.Address,
		Runtime:      identity.RuntimeContainerd,
		Poll:         poll,
		PollInterval: 100 * time.Millisecond,
		Backoff:      identity.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Logger:       slog.New(slog.NewTextHandler(&e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if want := "containerd:" + e.rt.Address; src.Name() != want {
		e.t.Errorf("Name() = %q, want %q", src.Name(), want)
	}
	e.reg = identity.NewRegistry(identity.Options{Sources: []identity.Source{src}})
	testenv.RunRegistry(e.t, e.reg)
}

// waitContainer waits until the registry holds container id.
func (e *env) waitContainer(id string) *identity.Container {
	e.t.Helper()
	return testenv.WaitContainer(e.t, e.reg, "container "+id, testenv.HasID(id))
}

// TestPodContainers runs pods on Debian 12's containerd 1.6, whose CRI has
// no events (the source falls back to polling), and on containerd 2, whose
// CRI streams them.
func TestPodContainers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		containerd2 bool
		poll        bool
	}{
		{"Debian containerd", false, false},
		{"Debian containerd, forced polling", false, true},
		{"containerd 2", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.containerd2 {
				testenv.UseContainerd2(t)
			}
			testPodContainers(t, tc.poll)
		})
	}
}

func testPodContainers(t *testing.T, poll bool) {
	e := newEnv(t)
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	pod := e.rt.RunPod(ctx, "web-7d9f", "shop", map[string]string{"app": "web", "tier": "front"})
	ids := map[string]string{
		"nginx":   e.rt.StartContainer(ctx, pod, "nginx"),
		"sidecar": e.rt.StartContainer(ctx, pod, "sidecar"),
	}
	e.start(poll)
	events, cancel := e.reg.Subscribe()
	defer cancel()
	root, err := e.reg.Host().Root()
	if err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, name string, c *identity.Container) {
		t.Helper()
		if c.ID != ids[name] || c.Name != name || c.KubeContainerName != name {
			t.Errorf("id %s name %q kube name %q, want %s %q", c.ID, c.Name, c.KubeContainerName, ids[name], name)
		}
		if c.Runtime != identity.RuntimeContainerd || c.Endpoint != e.rt.Address || c.RuntimeNamespace != "" {
			t.Errorf("runtime %q endpoint %q namespace %q", c.Runtime, c.Endpoint, c.RuntimeNamespace)
		}
		if c.PodName != "web-7d9f" || c.PodNamespace != "shop" || c.Namespace != "shop" || !c.Kubernetes() {
			t.Errorf("pod %q/%q namespace %q", c.PodNamespace, c.PodName, c.Namespace)
		}
		if want := testenv.KubeletLabels(pod, name); !maps.Equal(c.Labels, want) || c.Labels[identity.LabelPodUID] != pod.Config.Metadata.Uid {
			t.Errorf("labels %v, want %v", c.Labels, want)
		}
		if want := map[string]string{"app": "web", "tier": "front"}; !maps.Equal(c.PodLabels, want) {
			t.Errorf("pod labels %v, want %v", c.PodLabels, want)
		}
		if c.Image != testenv.CRIImage || !strings.HasPrefix(c.ImageDigest, "sha256:") || len(c.ImageDigest) != len("sha256:")+64 {
			t.Errorf("image %q digest %q", c.Image, c.ImageDigest)
		}
		// The pid, from the CRI's verbose info, is the task's; the cgroup
		// and namespaces are that process'.
		if pid := e.rt.ContainerPID(ctx, c.ID); c.PID != pid {
			t.Errorf("pid %d, want %d", c.PID, pid)
		}
		wantPath := pod.Config.Linux.CgroupParent + "/" + c.ID
		testenv.CheckRun(t, c, root, wantPath, before)
		if got, err := e.reg.Host().CgroupPathOfPID(c.PID); err != nil || got != wantPath {
			t.Errorf("/proc/%d/cgroup: %s, %v", c.PID, got, err)
		}
		if got, ok := e.reg.Lookup(c.CgroupID); !ok || got.ID != c.ID {
			t.Errorf("Lookup(%d) = %v, %v", c.CgroupID, got, ok)
		}
	}

	nginx, sidecar := e.waitContainer(ids["nginx"]), e.waitContainer(ids["sidecar"])
	t.Run("both running containers are reported, not the sandbox", func(t *testing.T) {
		check(t, "nginx", nginx)
		check(t, "sidecar", sidecar)
		if nginx.CgroupID == sidecar.CgroupID || nginx.PidNS == sidecar.PidNS || nginx.MntNS == sidecar.MntNS {
			t.Errorf("identities overlap: %+v %+v", nginx, sidecar)
		}
		if n := len(e.reg.Containers()); n != 2 {
			t.Errorf("%d containers, want 2: %v", n, e.reg.Containers())
		}
	})
	for range 2 { // the Added events of the initial list
		if ev := testenv.NextEvent(t, events); ev.Type != identity.Added {
			t.Fatalf("event %v %+v, want Added", ev.Type, ev.Container)
		}
	}

	t.Run("a container started later is reported", func(t *testing.T) {
		ids["late"] = e.rt.StartContainer(ctx, pod, "late")
		ev := testenv.NextEvent(t, events)
		if ev.Type != identity.Added || ev.Container.ID != ids["late"] {
			t.Fatalf("event %v %+v, want Added for %s", ev.Type, ev.Container, ids["late"])
		}
		check(t, "late", ev.Container)
	})

	t.Run("a stopped container is removed", func(t *testing.T) {
		stopped := time.Now()
		e.rt.StopContainer(ctx, ids["sidecar"], 5*time.Second)
		ev := testenv.NextEvent(t, events)
		if ev.Type != identity.Removed || ev.Container.ID != ids["sidecar"] || ev.Container.CgroupID != sidecar.CgroupID {
			t.Fatalf("event %v %+v, want Removed for %s", ev.Type, ev.Container, ids["sidecar"])
		}
		if at := ev.Container.StoppedAt; at.Before(stopped.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("stopped at %v, want about %v", at, stopped)
		}
		if _, ok := e.reg.Lookup(sidecar.CgroupID); ok {
			t.Errorf("the stopped container's cgroup id still resolves")
		}
		if n := len(e.reg.Containers()); n != 2 {
			t.Errorf("%d containers, want 2", n)
		}
	})

	t.Run("the follow mode matches the runtime", func(t *testing.T) {
		v, err := e.rt.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		fellBack := strings.Contains(e.log.String(), "no container events; polling")
		// containerd serves GetContainerEvents from 1.7 on.
		wantFallback := !poll && strings.HasPrefix(strings.TrimPrefix(v.RuntimeVersion, "v"), "1.6")
		if fellBack != wantFallback {
			t.Errorf("%s %s, forced polling %v: fell back to polling %v, want %v\n%s", v.RuntimeName, v.RuntimeVersion, poll, fellBack, wantFallback, e.log.String())
		}
		t.Logf("%s %s: forced polling %v, fell back to polling %v", v.RuntimeName, v.RuntimeVersion, poll, fellBack)
	})
}

// TestReconnectsWhenRuntimeRestarts loses the runtime while polling
// (Debian's containerd) and while following events (containerd 2).
func TestReconnectsWhenRuntimeRestarts(t *testing.T) {
	t.Run("Debian containerd", testReconnects)
	t.Run("containerd 2", func(t *testing.T) {
		testenv.UseContainerd2(t)
		testReconnects(t)
	})
}

func testReconnects(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	pod := e.rt.RunPod(ctx, "api", "shop", nil)
	first := e.rt.StartContainer(ctx, pod, "first")
	e.start(false)
	before := e.waitContainer(first)

	e.rt.Stop()
	time.Sleep(300 * time.Millisecond) // let the source notice and back off
	e.rt.Restart()

	second := e.rt.StartContainer(ctx, pod, "second")
	if c := e.waitContainer(second); c.PID != e.rt.ContainerPID(ctx, second) || c.PodName != "api" {
		t.Errorf("after restart: %+v", c)
	}
	// The container that ran through the restart keeps its identity.
	if c := e.waitContainer(first); c.CgroupID != before.CgroupID || c.PID != before.PID {
		t.Errorf("container running through the restart changed: %+v -> %+v", before, c)
	}
	if !strings.Contains(e.log.String(), "runtime connection lost") {
		t.Errorf("no lost connection logged:\n%s", e.log.String())
	}
	if n := len(e.reg.Containers()); n != 2 {
		t.Errorf("%d containers, want 2: %v", n, e.reg.Containers())
	}
	// Nothing else names the pod's containers.
	if slices.ContainsFunc(e.reg.Containers(), func(c *identity.Container) bool { return c.ID == pod.ID }) {
		t.Errorf("sandbox reported")
	}
}

func TestBadAddressIsAConfigurationError(t *testing.T) {
	err := cri.New(cri.Options{}).Run(t.Context(), nil)
	if err == nil {
		t.Fatal("Run without an address succeeded")
	}
	if got := cri.New(cri.Options{Address: "/run/crio/crio.sock"}).Name(); got != "cri-o:/run/crio/crio.sock" {
		t.Errorf("default Name() = %q", got)
	}
}
