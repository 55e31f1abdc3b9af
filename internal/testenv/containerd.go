package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/mountinfo"
)

// Snapshotter is the snapshotter containers use where the kernel has
// overlayfs (the host); elsewhere (the kernel lab's guest, whose overlay
// module is not in its initramfs) they use "native".
const Snapshotter = "overlayfs"

// Containerd is a private containerd daemon.
type Containerd struct {
	snapshotter string
	noPivotRoot bool

	// Address is the gRPC socket; Dir holds root, state, config and log.
	Address, Dir string
	// Client talks to the daemon; it survives Restart.
	Client *client.Client

	t    testing.TB
	proc *daemon
	// mu guards namespaces (and CRI's pods).
	mu         sync.Mutex
	namespaces []string
}

// StartContainerd starts containerd with a temporary root, state and
// socket, without its CRI plugin. It fails the test when containerd or runc
// is not installed. The daemon and everything made in it are removed in
// t.Cleanup.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	return startContainerd(t, nil)
}

// startContainerd starts containerd; criConfig, when not nil, enables the
// CRI plugin and returns its config section for the daemon's directory.
func startContainerd(t testing.TB, criConfig func(dir string) string) *Containerd {
	t.Helper()
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: run hack/install-deps.sh (apt-get install -y containerd runc): %v", bin, err)
		}
	}
	// Short: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "bwcd")
	if err != nil {
		t.Fatal(err)
	}
	// "containerd" in the socket's name: bulwarkd (like KubeArmor) tells a
	// runtime by its socket path.
	d := &Containerd{Address: filepath.Join(dir, "containerd.sock"), Dir: dir, t: t,
		snapshotter: snapshotterHere(), noPivotRoot: rootIsRAM()}
	d.proc = &daemon{
		t: t, name: "containerd", address: d.Address,
		args:    []string{"--config", filepath.Join(dir, "config.toml")},
		logFile: filepath.Join(dir, "containerd.log"),
		answers: d.answers, startTimeout: 20 * time.Second,
		stopGrace: 10 * time.Second,
	}
	// containerd 2's NRI would listen on the host's /var/run/nri/nri.sock.
	disabled := `"io.containerd.internal.v1.opt", "io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"`
	if criConfig == nil {
		disabled = `"io.containerd.grpc.v1.cri", ` + disabled
	}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), disabled, d.Address, d.Address+".ttrpc")
	if criConfig != nil {
		config += criConfig(dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	d.proc.start()
	d.Client, err = client.New(d.Address, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	return d
}

// answers reports whether the daemon serves its API.
func (d *Containerd) answers() bool {
	c, err := client.New(d.Address)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Version(ctx)
	return err == nil
}

// Stop terminates the daemon (containers keep running in their shims).
func (d *Containerd) Stop() {
	d.proc.stop()
}

// Restart stops and starts the daemon on the same root, state and socket.
func (d *Containerd) Restart() {
	d.t.Helper()
	d.proc.restart()
}

// Log returns the daemon's log.
func (d *Containerd) Log() string {
	return d.proc.log()
}

// Namespace returns a context in a new containerd namespace with a name
// unique on this machine (container cgroups are /<namespace>/<id>, shared
// by every containerd on the host).
func (d *Containerd) Namespace(ctx context.Context, prefix string) (context.Context, string) {
	ns := prefix + "-" + RandomHex(4)
	d.mu.Lock()
	d.namespaces = append(d.namespaces, ns)
	d.mu.Unlock()
	return namespaces.WithNamespace(ctx, ns), ns
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ImportBusybox imports the busybox image as ref into ctx's namespace and
// unpacks it.
func (d *Containerd) ImportBusybox(ctx context.Context, ref string) client.Image {
	d.t.Helper()
	archive, err := BusyboxArchive(ref)
	if err != nil {
		d.t.Fatal(err)
	}
	imgs, err := d.Client.Import(ctx, bytes.NewReader(archive))
	if err != nil {
		d.t.Fatalf("import image: %v", err)
	}
	i := slices.IndexFunc(imgs, func(i images.Image) bool { return i.Name == ref })
	if i < 0 {
		d.t.Fatalf("import image: %s not among %v", ref, imgs)
	}
	img := client.NewImage(d.Client, imgs[i])
	if err := img.Unpack(ctx, d.snapshotter); err != nil {
		d.t.Fatalf("unpack image: %v", err)
	}
	return img
}

// RunOptions describe a container to run.
type RunOptions struct {
	Labels map[string]string
	// Args replace the image's idle command.
	Args []string
	// NoStart creates the container without a task.
	NoStart bool
}

// Run creates container id from img in ctx's namespace and starts its task
// (unless o.NoStart).
func (d *Containerd) Run(ctx context.Context, id string, img client.Image, o RunOptions) (client.Container, client.Task) {
	d.t.Helper()
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img)}
	if len(o.Args) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(o.Args...))
	}
	c, err := d.Client.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithSnapshotter(d.snapshotter),
		client.WithNewSnapshot(id+"-rootfs", img),
		client.WithContainerLabels(o.Labels),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		d.t.Fatalf("create container %s: %v", id, err)
	}
	if o.NoStart {
		return c, nil
	}
	return c, d.StartTask(ctx, c)
}

// StartTask creates and starts a task of c.
func (d *Containerd) StartTask(ctx context.Context, c client.Container) client.Task {
	d.t.Helper()
	var opts []client.NewTaskOpts
	if d.noPivotRoot {
		opts = append(opts, client.WithNoPivotRoot)
	}
	task, err := c.NewTask(ctx, cio.NullIO, opts...)
	if err != nil {
		d.t.Fatalf("create task %s: %v", c.ID(), err)
	}
	if err := task.Start(ctx); err != nil {
		d.t.Fatalf("start task %s: %v", c.ID(), err)
	}
	return task
}

// StopTask kills c's task and deletes it.
func (d *Containerd) StopTask(ctx context.Context, task client.Task) {
	d.t.Helper()
	if err := killAndDelete(ctx, task); err != nil {
		d.t.Fatalf("stop task %s: %v", task.ID(), err)
	}
}

// Exec starts args inside task's container and returns the process.
func (d *Containerd) Exec(ctx context.Context, task client.Task, args ...string) client.Process {
	d.t.Helper()
	p := d.newExec(ctx, task, cio.NullIO, args)
	if err := p.Start(ctx); err != nil {
		d.t.Fatalf("start exec in %s: %v", task.ID(), err)
	}
	return p
}

// ExecWait runs args inside task's container until they exit, deletes the
// exec process and returns its (host) pid and exit status.
func (d *Containerd) ExecWait(ctx context.Context, task client.Task, args ...string) (pid, status uint32) {
	d.t.Helper()
	return d.exec(ctx, task, cio.NullIO, args)
}

// ExecOutput is ExecWait returning the exit status and the output (stdout
// and stderr together).
func (d *Containerd) ExecOutput(ctx context.Context, task client.Task, args ...string) (status uint32, output string) {
	d.t.Helper()
	var out SyncBuffer
	_, status = d.exec(ctx, task, cio.NewCreator(cio.WithStreams(nil, &out, &out)), args)
	return status, out.String()
}

// newExec creates, without starting it, an exec process running args in
// task's container with the container's process spec.
func (d *Containerd) newExec(ctx context.Context, task client.Task, io cio.Creator, args []string) client.Process {
	d.t.Helper()
	spec, err := task.Spec(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	pspec := *spec.Process
	pspec.Args = args
	p, err := task.Exec(ctx, "exec-"+RandomHex(4), &pspec, io)
	if err != nil {
		d.t.Fatalf("exec in %s: %v", task.ID(), err)
	}
	return p
}

func (d *Containerd) exec(ctx context.Context, task client.Task, io cio.Creator, args []string) (pid, status uint32) {
	d.t.Helper()
	p := d.newExec(ctx, task, io, args)
	defer func() { _, _ = p.Delete(ctx) }()
	wait, err := p.Wait(ctx) // before Start, not to miss the exit
	if err != nil {
		d.t.Fatalf("wait for exec in %s: %v", task.ID(), err)
	}
	if err := p.Start(ctx); err != nil {
		d.t.Fatalf("start exec in %s: %v", task.ID(), err)
	}
	select {
	case st := <-wait:
		// The exit is reported once the output is copied (cio waits).
		if io := p.IO(); io != nil {
			io.Wait()
		}
		return p.Pid(), st.ExitCode()
	case <-time.After(60 * time.Second):
		d.t.Fatalf("exec %v in %s did not exit", args, task.ID())
	}
	return 0, 0
}

// snapshotterHere is Snapshotter where the kernel has overlayfs, else
// "native".
func snapshotterHere() string {
	b, err := os.ReadFile("/proc/filesystems")
	if err == nil && !strings.Contains(string(b), "\toverlay\n") {
		return "native"
	}
	return Snapshotter
}

// rootIsRAM reports whether / is an initramfs (the kernel lab's guest),
// where runc cannot pivot_root.
func rootIsRAM() bool {
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, m := range mounts {
		if m.Point == "/" {
			return m.FSType == "rootfs"
		}
	}
	return false
}

func killAndDelete(ctx context.Context, task client.Task) error {
	wait, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !isGone(err) {
		return err
	}
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		return errors.New("task did not exit")
	}
	_, err = task.Delete(ctx)
	return err
}

func isGone(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "process already finished"))
}

// cleanup removes every task, container and snapshot, stops the daemon,
// unmounts what is left under Dir, removes the namespaces' cgroups and Dir.
func (d *Containerd) cleanup() {
	if d.Client != nil {
		if !d.proc.started() {
			d.proc.start() // to reap what a test left after stopping it
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		d.reap(ctx)
		cancel()
		_ = d.Client.Close()
	}
	d.Stop()
	unmountUnder(d.Dir)
	d.mu.Lock()
	nss := d.namespaces
	d.mu.Unlock()
	for _, ns := range nss {
		removeCgroups(ns)
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		d.t.Errorf("remove %s: %v", d.Dir, err)
	}
}

func (d *Containerd) reap(ctx context.Context) {
	nss, err := d.Client.NamespaceService().List(ctx)
	if err != nil {
		d.t.Errorf("cleanup: list namespaces: %v", err)
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := d.Client.Containers(nctx)
		if err != nil {
			d.t.Errorf("cleanup: list containers in %s: %v", ns, err)
			continue
		}
		for _, c := range cs {
			if task, err := c.Task(nctx, nil); err == nil {
				if err := killAndDelete(nctx, task); err != nil {
					d.t.Errorf("cleanup: task %s/%s: %v", ns, c.ID(), err)
				}
			}
			if err := c.Delete(nctx, client.WithSnapshotCleanup); err != nil {
				d.t.Errorf("cleanup: container %s/%s: %v", ns, c.ID(), err)
			}
		}
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	all, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, m := range all {
		if strings.HasPrefix(m.Point, dir+"/") {
			mounts = append(mounts, m.Point)
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
}

// removeCgroups removes the (empty) cgroups runc made for namespace ns in
// every hierarchy: /sys/fs/cgroup/<ns> (v2) or /sys/fs/cgroup/*/<ns>.
func removeCgroups(ns string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	dirs = append(dirs, filepath.Join("/sys/fs/cgroup", ns))
	for _, dir := range dirs {
		subs, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, s := range subs {
			if st, err := os.Stat(s); err == nil && st.IsDir() {
				_ = unix.Rmdir(s)
			}
		}
		_ = unix.Rmdir(dir)
	}
}
