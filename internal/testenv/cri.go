package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CRIImage is the busybox image StartCRI's runtime runs containers of. It
// is the pod sandbox ("pause") image too: busybox's idle loop does what
// pause does, and one image under two tags would make the runtime report
// either tag for a container.
const CRIImage = "docker.io/library/busybox:bulwark"

// Containerd2Dir holds a containerd 2 daemon and runc shim, built by
// hack/install-deps.sh from the containerd module go.mod pins: Debian 12's
// containerd 1.6 does not serve the CRI's GetContainerEvents.
const Containerd2Dir = "/usr/local/lib/bulwark/containerd2"

// UseContainerd2 makes the daemons the test starts afterwards
// (StartContainerd, StartCRI) those of Containerd2Dir, by PATH, which the
// daemon passes on to look up its shim.
func UseContainerd2(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2"} {
		if _, err := os.Stat(filepath.Join(Containerd2Dir, bin)); err != nil {
			t.Fatalf("containerd 2 not built: run hack/install-deps.sh: %v", err)
		}
	}
	t.Setenv("PATH", Containerd2Dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// criNamespace is the containerd namespace of the CRI plugin.
const criNamespace = "k8s.io"

// CRI is a private containerd with its CRI plugin enabled: a CRI v1 runtime
// as kubelet sees CRI-O or containerd, with the busybox image imported.
// Pods use the host network, so no CNI plugin is needed.
type CRI struct {
	*Containerd
	// Runtime is a CRI client on Address (the CRI plugin shares
	// containerd's socket).
	Runtime runtimeapi.RuntimeServiceClient

	conn *grpc.ClientConn
	pods []string
}

// criConfig is the CRI plugin's section of the daemon's config (version 2,
// as containerd 1.6 and 1.7 read it). restrict_oom_score_adj keeps the
// sandbox's oom_score_adj (-998) from going below the daemon's: a root
// without CAP_SYS_RESOURCE, as in a container, may not lower it, and runc
// then fails with "can't get final child's PID from pipe".
func criConfig(dir string) string {
	return fmt.Sprintf(`[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  disable_apparmor = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = %q
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, CRIImage, Snapshotter, filepath.Join(dir, "cni", "bin"), filepath.Join(dir, "cni", "net.d"))
}

// StartCRI starts a private containerd with its CRI plugin, imports the
// busybox image as CRIImage and waits until the CRI
// runtime answers. Pods and containers are removed in t.Cleanup.
func StartCRI(t testing.TB) *CRI {
	t.Helper()
	d := startContainerd(t, criConfig)
	conn, err := grpc.NewClient("unix://"+d.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("cri client: %v", err)
	}
	c := &CRI{Containerd: d, Runtime: runtimeapi.NewRuntimeServiceClient(conn), conn: conn}
	// Runs before the daemon's cleanup (t.Cleanup is last in, first out).
	t.Cleanup(c.cleanup)
	c.waitReady()
	c.importImage()
	return c
}

// waitReady waits until the CRI plugin serves its API.
func (c *CRI) waitReady() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Runtime.Version(ctx, &runtimeapi.VersionRequest{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("CRI plugin does not answer on %s: %v\n%s", c.Address, err, c.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// importImage imports the busybox image as CRIImage into the CRI plugin's
// namespace; the plugin learns of it from containerd's image events.
func (c *CRI) importImage() {
	c.t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), criNamespace)
	c.ImportBusybox(ctx, CRIImage)
	// The CRI plugin's image store is filled asynchronously.
	images := runtimeapi.NewImageServiceClient(c.conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := images.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: CRIImage}})
		if err == nil && resp.Image != nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("CRI plugin does not see image %s: %v", CRIImage, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// podNamespaces are kubelet's for a host-network pod without a shared
// process namespace.
var podNamespaces = &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Pid: runtimeapi.NamespaceMode_CONTAINER}

// Restart stops and starts the daemon and waits until the CRI plugin,
// which recovers its pods and containers first, answers again.
func (c *CRI) Restart() {
	c.t.Helper()
	c.Containerd.Restart()
	c.waitReady()
}

// Pod is a running pod sandbox.
type Pod struct {
	ID     string
	Config *runtimeapi.PodSandboxConfig
}

// RunPod runs a pod sandbox named name in Kubernetes namespace namespace,
// with the given pod labels, on the host network and in a cgroup of its
// own that the cleanup removes. It sets no hostname: runc cannot set one
// in the host's UTS namespace, which a host-network pod shares.
func (c *CRI) RunPod(ctx context.Context, name, namespace string, labels map[string]string) *Pod {
	c.t.Helper()
	uid := RandomHex(16)
	cgroupParent := "bwcri-" + RandomHex(4)
	c.mu.Lock()
	// Removed like a containerd namespace's cgroups.
	c.namespaces = append(c.namespaces, cgroupParent)
	c.mu.Unlock()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: namespace, Uid: uid},
		Labels:   labels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/" + cgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: podNamespaces,
			},
		},
	}
	resp, err := c.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		c.t.Fatalf("run pod sandbox %s/%s: %v\n%s", namespace, name, err, c.Log())
	}
	c.mu.Lock()
	c.pods = append(c.pods, resp.PodSandboxId)
	c.mu.Unlock()
	return &Pod{ID: resp.PodSandboxId, Config: cfg}
}

// StartContainer creates and starts container name of CRIImage in pod,
// labelled as kubelet labels containers, and returns its id.
func (c *CRI) StartContainer(ctx context.Context, pod *Pod, name string) string {
	c.t.Helper()
	labels := KubeletLabels(pod, name)
	created, err := c.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.ID,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: name},
			Image:    &runtimeapi.ImageSpec{Image: CRIImage},
			Labels:   labels,
			Linux: &runtimeapi.LinuxContainerConfig{
				SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: podNamespaces},
			},
		},
		SandboxConfig: pod.Config,
	})
	if err != nil {
		c.t.Fatalf("create container %s: %v\n%s", name, err, c.Log())
	}
	if _, err := c.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		c.t.Fatalf("start container %s: %v\n%s", name, err, c.Log())
	}
	return created.ContainerId
}

// StopContainer stops container id (SIGTERM, then SIGKILL after timeout).
func (c *CRI) StopContainer(ctx context.Context, id string, timeout time.Duration) {
	c.t.Helper()
	if _, err := c.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: int64(timeout / time.Second)}); err != nil {
		c.t.Fatalf("stop container %s: %v", id, err)
	}
}

// ContainerPID returns the host pid of container id's init process, as the
// runtime's containerd task reports it (independent of the CRI's info).
func (c *CRI) ContainerPID(ctx context.Context, id string) uint32 {
	c.t.Helper()
	nctx := namespaces.WithNamespace(ctx, criNamespace)
	ctr, err := c.Client.LoadContainer(nctx, id)
	if err != nil {
		c.t.Fatal(err)
	}
	task, err := ctr.Task(nctx, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return task.Pid()
}

// KubeletLabels are the labels StartContainer gives a container of pod.
func KubeletLabels(pod *Pod, name string) map[string]string {
	md := pod.Config.Metadata
	return map[string]string{
		"io.kubernetes.pod.name":       md.Name,
		"io.kubernetes.pod.namespace":  md.Namespace,
		"io.kubernetes.pod.uid":        md.Uid,
		"io.kubernetes.container.name": name,
	}
}

// cleanup stops and removes the pods (and so their containers) through the
// CRI, so the plugin releases their mounts, then closes the client.
func (c *CRI) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.mu.Lock()
	pods := c.pods
	c.mu.Unlock()
	if !c.proc.started() && len(pods) > 0 {
		c.Restart() // a test stopped the daemon
	}
	for _, id := range pods {
		if _, err := c.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			c.t.Errorf("cleanup: stop pod %s: %v", id, err)
			continue
		}
		if _, err := c.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			c.t.Errorf("cleanup: remove pod %s: %v", id, err)
		}
	}
	_ = c.conn.Close()
}
