package docker_test

import (
	"maps"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/docker"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// imageRef is the tag the busybox image is loaded under.
const imageRef = "busybox:bulwark"

// env is a private dockerd with the busybox image, and a registry
// following it through the docker source.
type env struct {
	t       *testing.T
	d       *testenv.Docker
	imageID string
	reg     *identity.Registry
}

func newEnv(t *testing.T) *env {
	d := testenv.StartDocker(t)
	return &env{t: t, d: d, imageID: d.LoadBusybox(imageRef)}
}

// startSource runs a registry with the docker source until the test ends.
func (e *env) startSource() {
	e.reg = identity.NewRegistry(identity.Options{Sources: []identity.Source{
		docker.New(docker.Options{Address: e.d.Address, Backoff: identity.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}}),
	}})
	testenv.RunRegistry(e.t, e.reg)
}

func (e *env) waitContainer(id string) *identity.Container {
	e.t.Helper()
	return testenv.WaitContainer(e.t, e.reg, "container "+id, testenv.HasID(id))
}

func (e *env) waitGone(id string) {
	e.t.Helper()
	testenv.WaitNoContainer(e.t, e.reg, "container "+id, testenv.HasID(id))
}

func TestContainersAreReportedWithTheirDockerIdentity(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Add(-time.Second)
	webLabels := map[string]string{"app": "web", identity.LabelNamespace: "team1"}
	dbLabels := map[string]string{"app": "db"}
	webID := e.d.Run("web", imageRef, testenv.DockerRunOptions{Labels: webLabels})
	dbID := e.d.Run("db", imageRef, testenv.DockerRunOptions{Labels: dbLabels})
	e.startSource()
	web, db := e.waitContainer(webID), e.waitContainer(dbID)

	root, err := e.reg.Host().Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c            *identity.Container
		id, name, ns string
		labels       map[string]string
	}{
		{web, webID, "web", "team1", webLabels},
		{db, dbID, "db", identity.DefaultNamespace, dbLabels},
	} {
		t.Run(tc.name+" has its name, image, labels, pid, cgroup and namespaces", func(t *testing.T) {
			c := tc.c
			if c.Runtime != identity.RuntimeDocker || c.Endpoint != e.d.Address || c.RuntimeNamespace != "" {
				t.Errorf("runtime %q endpoint %q namespace %q", c.Runtime, c.Endpoint, c.RuntimeNamespace)
			}
			if c.ID != tc.id || c.Name != tc.name || c.Image != imageRef || c.ImageDigest != e.imageID {
				t.Errorf("id %q name %q image %q digest %q, want %q %q %q %q", c.ID, c.Name, c.Image, c.ImageDigest, tc.id, tc.name, imageRef, e.imageID)
			}
			if !maps.Equal(c.Labels, tc.labels) || c.Namespace != tc.ns {
				t.Errorf("labels %v namespace %q, want %v %q", c.Labels, c.Namespace, tc.labels, tc.ns)
			}
			if pid := e.d.Pid(tc.id); c.PID != pid {
				t.Errorf("pid %d, want %d", c.PID, pid)
			}
			testenv.CheckRun(t, c, root, "/"+e.d.CgroupParent+"/"+tc.id, before)
			if c.MntNS == testenv.NSInode(t, uint32(os.Getpid()), "mnt") {
				t.Errorf("container shares the test's mount namespace")
			}
			w := c.Workload()
			if !w.Standalone || w.ContainerName != tc.name || w.Namespace != tc.ns || !maps.Equal(w.Labels, tc.labels) {
				t.Errorf("workload %+v", w)
			}
		})
	}
	if web.CgroupID == db.CgroupID || web.PidNS == db.PidNS || web.MntNS == db.MntNS {
		t.Errorf("identities overlap: %+v %+v", web, db)
	}

	t.Run("an exec ending is not the container's exit; a rename is seen", func(t *testing.T) {
		e.d.CLI("exec", "web", "true") // exec_create, exec_start, exec_die
		e.d.CLI("rename", "db", "db2")
		// Events arrive in order: once the rename is in, so is exec_die.
		renamed := testenv.WaitContainer(t, e.reg, "db renamed", func(c *identity.Container) bool { return c.ID == dbID && c.Name == "db2" })
		if renamed.CgroupID != db.CgroupID || renamed.PID != db.PID {
			t.Errorf("rename changed the run: %+v", renamed)
		}
		if got, ok := e.reg.Lookup(web.CgroupID); !ok || got.ID != webID {
			t.Errorf("web lost after an exec in it: %v, %v", got, ok)
		}
	})

	t.Run("a stopped container is removed, the other stays", func(t *testing.T) {
		events, cancel := e.reg.Subscribe()
		defer cancel()
		e.d.CLI("stop", "web")
		removed := nextRemoved(t, events)
		if removed.ID != webID || removed.CgroupID != web.CgroupID || removed.StoppedAt.IsZero() {
			t.Errorf("removed %+v, want web with a stop time", removed)
		}
		if _, ok := e.reg.Lookup(web.CgroupID); ok {
			t.Errorf("the stopped container's cgroup id still resolves")
		}
		if got, ok := e.reg.Lookup(db.CgroupID); !ok || got.ID != dbID {
			t.Errorf("db: %v, %v", got, ok)
		}
	})

	t.Run("a container started while the source runs is seen", func(t *testing.T) {
		lateID := e.d.Run("late", imageRef, testenv.DockerRunOptions{})
		late := e.waitContainer(lateID)
		if late.Name != "late" || late.PID != e.d.Pid(lateID) || late.CgroupPath != "/"+e.d.CgroupParent+"/"+lateID {
			t.Errorf("late %+v", late)
		}
		if got, ok := e.reg.LookupPID(late.PID); !ok || got.ID != lateID {
			t.Errorf("LookupPID(%d) = %v, %v", late.PID, got, ok)
		}
	})
}

// nextRemoved returns the next Removed registry event.
func nextRemoved(t *testing.T, events <-chan identity.Event) *identity.Container {
	t.Helper()
	deadline := time.After(testenv.WaitTimeout)
	for {
		select {
		case ev := <-events:
			if ev.Type == identity.Removed {
				return ev.Container
			}
		case <-deadline:
			t.Fatal("no Removed event")
		}
	}
}

func TestSourceReconnectsAndRelistsAfterDaemonRestart(t *testing.T) {
	e := newEnv(t)
	keepID := e.d.Run("keep", imageRef, testenv.DockerRunOptions{})
	lostID := e.d.Run("lost", imageRef, testenv.DockerRunOptions{})
	e.startSource()
	keep := e.waitContainer(keepID)
	lost := e.waitContainer(lostID)

	e.d.Stop() // live restore: the containers keep running
	// lost exits while dockerd is down: no event will tell, only the list
	// after reconnecting can.
	if err := unix.Kill(int(lost.PID), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let the source fail to reconnect and back off
	e.d.Restart()

	e.waitGone(lostID)
	if got := e.waitContainer(keepID); got.CgroupID != keep.CgroupID || got.PID != keep.PID {
		t.Errorf("container running through the restart changed: %+v -> %+v", keep, got)
	}
	// The event stream is followed again.
	afterID := e.d.Run("after", imageRef, testenv.DockerRunOptions{})
	if after := e.waitContainer(afterID); after.PID != e.d.Pid(afterID) {
		t.Errorf("after restart: pid %d, want %d", after.PID, e.d.Pid(afterID))
	}
	e.d.CLI("stop", "keep")
	e.waitGone(keepID)
}
