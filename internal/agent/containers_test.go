package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/containerd"
	"github.com/bulwark-security/bulwark/internal/testenv"
)

// containerRecord is a JSON line of logPath with the container fields.
type containerRecord struct {
	Type, PolicyName, Severity, Action, Enforcer, Operation, Resource string
	ProcessName, ParentProcessName, Result                            string
	ContainerID, ContainerName, ContainerImage                        string
	NamespaceName, PodName, Labels                                    string
	HostPID, HostPPID                                                 int
	EventData                                                         map[string]string
	ExecEvent                                                         struct{ ExecID, ExecutableName string }
}

// delayedSource reports the containers labelled delayLabel late, so their
// first events reach the agent before the runtime's report does.
type delayedSource struct {
	identity.Source
	delay time.Duration
}

const delayLabel = "bulwark.test/delay"

func (s delayedSource) Run(ctx context.Context, sink identity.Sink) error {
	return s.Source.Run(ctx, &delayedSink{Sink: sink, delay: s.delay})
}

type delayedSink struct {
	identity.Sink
	delay time.Duration
}

func (s *delayedSink) Upsert(c *identity.Container) {
	if c.Labels[delayLabel] == "" {
		s.Sink.Upsert(c)
		return
	}
	time.AfterFunc(s.delay, func() { s.Sink.Upsert(c) })
}

func (s *delayedSink) Sync(running []*identity.Container) {
	var now []*identity.Container
	for _, c := range running {
		if c.Labels[delayLabel] == "" {
			now = append(now, c)
		} else {
			s.Upsert(c)
		}
	}
	s.Sink.Sync(now)
}

// ksp is a container policy auditing reads of one file.
func ksp(name string, severity int, selector, file string) string {
	return fmt.Sprintf(`apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: %s
  namespace: container_namespace
spec:
  severity: %d
  message: container read %s
  selector:
    matchLabels:
      %s
  file:
    matchPaths:
      - path: %s
  action: Audit
`, name, severity, file, selector, file)
}

type containerEnv struct {
	dir, config, policyDir, events, socket string
}

func (e containerEnv) writeConfig(t *testing.T, visibility string) {
	t.Helper()
	write(t, e.config, testConfig(e.dir, e.socket, e.events, e.policyDir, "enableKubeArmorPolicy: true\nhostVisibility: none\nvisibility: "+visibility+"\n"))
}

// TestContainersEndToEnd runs bulwarkd (agent, DefaultComponents, real
// monitor) on a private containerd with busybox containers.
func TestContainersEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containerd, containers and the monitor")
	}
	dir := rootTempDir(t, "bwc", "needs root: containers and the monitor")
	e := containerEnv{dir: dir, config: filepath.Join(dir, "bulwarkd.yaml"), policyDir: filepath.Join(dir, "policies"),
		events: filepath.Join(dir, "events.jsonl"), socket: filepath.Join(dir, "b.sock")}
	if err := os.MkdirAll(e.policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "machine-id"), testNodeID+"\n")
	write(t, filepath.Join(e.policyDir, "web.yaml"), ksp("ksp-web-audit", 5, `kubearmor.io/container.name: "^web$"`, "/etc/group"))
	write(t, filepath.Join(e.policyDir, "early.yaml"), ksp("ksp-early-audit", 3, "app: early", "/etc/group"))
	e.writeConfig(t, "process,file,network,capabilities")

	const ref = "docker.io/library/busybox:bulwark"
	d := testenv.StartContainerd(t)
	cctx, ns := d.Namespace(t.Context(), "bwag")
	img := d.ImportBusybox(cctx, ref)
	webID, dbID, earlyID := testenv.RandomHex(32), testenv.RandomHex(32), testenv.RandomHex(32)
	webC, webTask := d.Run(cctx, webID, img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: "web", "app": "web"}})
	_, dbTask := d.Run(cctx, dbID, img, testenv.RunOptions{Labels: map[string]string{identity.LabelNerdctlName: "db", "app": "db"}})

	cfg, err := config.Load(config.Options{File: e.config})
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	src := containerd.New(containerd.Options{Address: d.Address, Namespaces: []string{ns},
		Backoff: identity.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}})
	a, err := agent.New(agent.Options{
		Config: cfg, Load: config.Options{File: e.config}, NoSignal: true, Components: agent.DefaultComponents,
		Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
		Enforcers:        map[string]agent.EnforcerFactory{}, // monitor only, on any host
		ContainerSources: []identity.Source{delayedSource{Source: src, delay: 2 * time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := startAgent(t, ctx, a, &logs)
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() }) // before containerd's cleanup
	defer func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	}()
	if !strings.Contains(logs.String(), `msg="monitor attached"`) {
		t.Fatalf("monitor not attached")
	}
	none, _ := a.Enforcer().(*agent.NoneEnforcer)
	if a.Containers() == nil || none == nil {
		t.Fatalf("containers %v, enforcer %s", a.Containers(), a.Enforcer().Name())
	}
	host := &identity.Host{}
	cgroupOf := func(task client.Task) uint64 {
		t.Helper()
		_, id, err := host.CgroupOfPID(task.Pid())
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	webCg, dbCg := cgroupOf(webTask), cgroupOf(dbTask)
	eventually(t, "both containers' rule sets applied", settle, func() bool {
		return none.Applied(webCg) != nil && none.Applied(dbCg) != nil
	})

	var recs []containerRecord
	// waitRecord waits for a record of cgroup cg accepted by ok.
	waitRecord := func(t *testing.T, what string, cg uint64, ok func(containerRecord) bool) containerRecord {
		t.Helper()
		var found containerRecord
		defer func() {
			if t.Failed() {
				for _, r := range recs {
					if r.EventData["CgroupID"] == strconv.FormatUint(cg, 10) && r.Operation != "Process" {
						t.Logf("record: %+v", r)
					}
				}
			}
		}()
		eventually(t, what, settle, func() bool {
			recs = readJSONLines[containerRecord](t, e.events)
			i := slices.IndexFunc(recs, func(r containerRecord) bool {
				return r.EventData["CgroupID"] == strconv.FormatUint(cg, 10) && ok(r)
			})
			if i >= 0 {
				found = recs[i]
			}
			return i >= 0
		})

		return found
	}
	isAlert := func(r containerRecord) bool { return r.Type == "MatchedPolicy" }

	t.Run("identity, audit alert and ancestry", func(t *testing.T) {
		// A shell pipeline in each container; the reader is a copy of
		// busybox so that the ancestry names it.
		for _, task := range []client.Task{webTask, dbTask} {
			if _, st := d.ExecWait(cctx, task, "cp", "/bin/busybox", "/tmp/busybox"); st != 0 {
				t.Fatalf("cp: %d", st)
			}
			if _, st := d.ExecWait(cctx, task, "sh", "-c", "/tmp/busybox cat /etc/group | wc -l"); st != 0 {
				t.Fatalf("pipeline: %d", st)
			}
		}
		// (runc reads /etc/passwd and /etc/group for every exec: the reader
		// is told by its name.)
		al := waitRecord(t, "web's audit alert", webCg, func(r containerRecord) bool {
			return isAlert(r) && r.Resource == "/etc/group" && r.ProcessName == "/tmp/busybox"
		})
		if al.PolicyName != "ksp-web-audit" || al.Severity != "5" || al.Action != "Audit" || al.Enforcer != agent.MonitorEnforcerName ||
			al.Operation != "File" || al.ContainerName != "web" || al.ContainerID != webID || al.ContainerImage != ref ||
			al.NamespaceName != identity.DefaultNamespace || al.ProcessName != "/tmp/busybox" || al.ParentProcessName != "/bin/busybox" ||
			!strings.Contains(al.Labels, "app=web") || al.Result != "Passed" {
			t.Errorf("web alert: %+v", al)
		}
		if anc := al.EventData["Ancestry"]; !strings.HasSuffix(anc, "/bin/busybox > /tmp/busybox") {
			t.Errorf("web alert ancestry %q, want ... > /bin/busybox > /tmp/busybox", anc)
		}
		// The reader runs in an exec session (ExecWait), which the alert
		// names.
		if id := al.ExecEvent.ExecID; id == "" || al.EventData["ExecID"] != id || !strings.HasSuffix(al.EventData["ExecSession"], "/runc") {
			t.Errorf("web alert's exec session: ExecEvent %+v, ExecSession %q", al.ExecEvent, al.EventData["ExecSession"])
		}
		// db's read of the same file is a ContainerLog, with db's identity.
		lg := waitRecord(t, "db's file log", dbCg, func(r containerRecord) bool { return r.Resource == "/etc/group" && r.ProcessName == "/tmp/busybox" })
		if lg.Type != "ContainerLog" || lg.ContainerName != "db" || lg.ContainerID != dbID || lg.ContainerImage != ref || lg.PolicyName != "" {
			t.Errorf("db log: %+v", lg)
		}
		for _, r := range recs {
			cg := r.EventData["CgroupID"]
			switch {
			case cg == strconv.FormatUint(dbCg, 10) && (isAlert(r) || r.ContainerID != dbID || r.ContainerName != "db"):
				t.Errorf("db record: %+v", r)
			case cg == strconv.FormatUint(webCg, 10) && (r.ContainerID != webID || r.ContainerName != "web" || r.ContainerImage != ref):
				t.Errorf("web record: %+v", r)
			}
		}
	})

	t.Run("exec sessions", func(t *testing.T) {
		// The container's init starts a process of its own; then two
		// execs of one pipeline.
		_, sessTask := d.Run(cctx, testenv.RandomHex(32), img, testenv.RunOptions{
			Labels: map[string]string{identity.LabelNerdctlName: "sessions"},
			Args:   []string{"sh", "-c", "cat /etc/group /etc/group >/dev/null; exec sleep 3600"},
		})
		cg := cgroupOf(sessTask)
		isExec := func(r containerRecord) bool {
			return r.Operation == "Process" && r.EventData["syscall"] == "SYS_EXECVE"
		}
		defer func() {
			if t.Failed() {
				for _, r := range recs {
					if r.EventData["CgroupID"] == strconv.FormatUint(cg, 10) && isExec(r) {
						t.Logf("exec %d<%d %s %q: ExecID %q ExecSession %q", r.HostPID, r.HostPPID, r.ProcessName, r.Resource,
							r.ExecEvent.ExecID, r.EventData["ExecSession"])
					}
				}
			}
		}()
		own := waitRecord(t, "the init's own child", cg, func(r containerRecord) bool {
			return isExec(r) && strings.HasSuffix(r.Resource, " /etc/group /etc/group") // busybox's cat
		})
		if own.ExecEvent.ExecID != "" || own.EventData["ExecID"] != "" || own.EventData["ExecSession"] != "" {
			t.Errorf("process of the container's init in an exec session: %+v", own)
		}
		var ids []string
		for range 2 {
			pid, st := d.ExecWait(cctx, sessTask, "sh", "-c", "cat /etc/hostname | wc -c")
			if st != 0 {
				t.Fatalf("exec: %d", st)
			}
			sh := waitRecord(t, "the exec'd shell", cg, func(r containerRecord) bool { return isExec(r) && r.HostPID == int(pid) })
			cat := waitRecord(t, "its cat", cg, func(r containerRecord) bool {
				return isExec(r) && r.HostPPID == int(pid) && strings.HasSuffix(r.Resource, " /etc/hostname")
			})
			wc := waitRecord(t, "its wc", cg, func(r containerRecord) bool {
				return isExec(r) && r.HostPPID == int(pid) && strings.HasSuffix(r.Resource, " -c")
			})
			id := sh.ExecEvent.ExecID
			if !strings.HasPrefix(id, strconv.Itoa(int(pid))+"-") || sh.EventData["ExecID"] != id || sh.EventData["ExecSession"] == "" ||
				sh.ContainerName != "sessions" {
				t.Errorf("exec'd shell: %+v", sh)
			}
			for _, r := range []containerRecord{cat, wc} {
				if r.ExecEvent.ExecID != id || r.EventData["ExecSession"] != sh.EventData["ExecSession"] {
					t.Errorf("child %s: ExecID %q, ExecSession %q; shell's %q, %q", r.Resource, r.ExecEvent.ExecID,
						r.EventData["ExecSession"], id, sh.EventData["ExecSession"])
				}
			}
			t.Logf("session %s entered by %q", id, sh.EventData["ExecSession"])
			ids = append(ids, id)
		}
		if ids[0] == ids[1] {
			t.Errorf("two execs share session %q", ids[0])
		}
		d.StopTask(cctx, sessTask)
	})

	t.Run("probe data", func(t *testing.T) {
		conn, err := grpc.NewClient("unix://"+e.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, err := policypb.NewProbeServiceClient(conn).GetProbeData(ctx, &emptypb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(resp.ContainerList, "web") || !slices.Contains(resp.ContainerList, "db") {
			t.Errorf("containerList %v", resp.ContainerList)
		}
		if w := resp.ContainerMap["web"]; w == nil || !slices.Equal(w.PolicyList, []string{"ksp-web-audit"}) || w.PolicyEnabled != 2 || len(w.PolicyDataList) != 1 {
			t.Errorf("web: %+v", w)
		}
		if db := resp.ContainerMap["db"]; db == nil || len(db.PolicyList) != 0 {
			t.Errorf("db: %+v", db)
		}
	})

	t.Run("early events are held and enriched", func(t *testing.T) {
		// The runtime's report of this container reaches the agent 2 s
		// after its first events.
		_, earlyTask := d.Run(cctx, earlyID, img, testenv.RunOptions{
			Labels: map[string]string{identity.LabelNerdctlName: "early", "app": "early", delayLabel: "1"},
			Args:   []string{"sh", "-c", "cat /etc/group; exec sleep 3600"},
		})
		earlyCg := cgroupOf(earlyTask)
		al := waitRecord(t, "early container's audit alert", earlyCg, func(r containerRecord) bool { return isAlert(r) && r.Resource == "/etc/group" })
		if al.PolicyName != "ksp-early-audit" || al.ContainerID != earlyID || al.ContainerName != "early" || al.ContainerImage != ref {
			t.Errorf("early alert: %+v", al)
		}
		for _, r := range recs {
			if r.EventData["CgroupID"] == strconv.FormatUint(earlyCg, 10) && (r.ContainerID != earlyID || r.ContainerName != "early") {
				t.Errorf("early record misattributed: %+v", r)
			}
		}
	})

	t.Run("a restarted container gets a new identity", func(t *testing.T) {
		d.StopTask(cctx, webTask)
		eventually(t, "old run's rules removed", settle, func() bool { return none.Applied(webCg) == nil })
		webTask = d.StartTask(cctx, webC)
		newCg := cgroupOf(webTask)
		if newCg == webCg {
			t.Fatalf("same cgroup id %d after restart", newCg)
		}
		if _, st := d.ExecWait(cctx, webTask, "/tmp/busybox", "sh", "-c", "/tmp/busybox cat /etc/group >/dev/null"); st != 0 {
			t.Fatalf("cat: %d", st)
		}
		al := waitRecord(t, "restarted web's audit alert", newCg, func(r containerRecord) bool {
			return isAlert(r) && r.Resource == "/etc/group" && r.ProcessName == "/tmp/busybox"
		})
		if al.PolicyName != "ksp-web-audit" || al.ContainerID != webID || al.ContainerName != "web" {
			t.Errorf("alert after restart: %+v", al)
		}
		eventually(t, "new run's rules applied", settle, func() bool { return none.Applied(newCg) != nil })
		webCg = newCg
	})

	t.Run("visibility none silences containers", func(t *testing.T) {
		e.writeConfig(t, "none")
		eventually(t, "visibility none applied", settle, func() bool {
			return strings.Contains(logs.String(), `msg="visibility applied" component=monitor visibility=none`)
		})
		for _, task := range []client.Task{dbTask, webTask} {
			if _, st := d.ExecWait(cctx, task, "sh", "-c", "/tmp/busybox cat /etc/passwd /etc/group >/dev/null"); st != 0 {
				t.Fatalf("cat: %d", st)
			}
		}
		e.writeConfig(t, "process,file")
		eventually(t, "visibility process,file applied", settle, func() bool {
			return strings.Contains(logs.String(), `msg="visibility applied" component=monitor visibility=process,file `)
		})
		if _, st := d.ExecWait(cctx, dbTask, "ls", "/tmp"); st != 0 {
			t.Fatalf("ls: %d", st)
		}
		waitRecord(t, "marker after visibility is back", dbCg, func(r containerRecord) bool { return r.Resource == "/tmp" || r.Resource == "/tmp/" })
		for _, r := range recs {
			if r.ProcessName == "/tmp/busybox" && strings.HasPrefix(r.Resource, "/etc/passwd") {
				t.Errorf("record with visibility none: %+v", r)
			}
		}
	})

	t.Run("an untracked namespace is neither enforced nor reported", func(t *testing.T) {
		// untrackedNs defaults to kube-system,kubearmor, as upstream.
		_, sysTask := d.Run(cctx, testenv.RandomHex(32), img, testenv.RunOptions{
			Labels: map[string]string{identity.LabelNerdctlName: "sys", identity.LabelNamespace: "kube-system"},
		})
		sysCg := cgroupOf(sysTask)
		eventually(t, "the untracked container's rule set applied", settle, func() bool { return none.Applied(sysCg) != nil })
		if m := none.Applied(sysCg).Mode(); m != engine.PolicyDisabled {
			t.Errorf("untracked container's policy mode %q, want %q", m, engine.PolicyDisabled)
		}
		if _, st := d.ExecWait(cctx, sysTask, "sh", "-c", "cat /etc/group >/dev/null; ls /tmp"); st != 0 {
			t.Fatalf("untracked container's commands: %d", st)
		}
		// A tracked container's record after that proves the pipeline
		// caught up.
		if _, st := d.ExecWait(cctx, dbTask, "ls", "/etc"); st != 0 {
			t.Fatalf("ls: %d", st)
		}
		waitRecord(t, "tracked container's marker", dbCg, func(r containerRecord) bool { return r.Resource == "/etc" || r.Resource == "/etc/" })
		for _, r := range recs {
			if r.EventData["CgroupID"] == strconv.FormatUint(sysCg, 10) {
				t.Errorf("record from the untracked container: %+v", r)
			}
		}
	})

	if err := stop(); err != nil {
		t.Errorf("agent: %v", err)
	}
	if !regexp.MustCompile(`msg="container event queue stopped" .*enriched=[1-9]`).MatchString(logs.String()) {
		t.Errorf("no event was held and enriched")
	}
}
