package identity

import (
	"maps"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/internal/engine"
)

// Runtime names a container runtime.
type Runtime string

// Runtimes.
const (
	RuntimeContainerd Runtime = "containerd"
	RuntimeDocker     Runtime = "docker"
	RuntimeCRIO       Runtime = "cri-o"
)

// Endpoint is a runtime's API socket.
type Endpoint struct {
	Runtime Runtime
	// Address is the socket path as seen by this process.
	Address string
}

// WellKnownEndpoints are the runtime sockets KubeArmor looks for when none
// is configured, in its order per runtime.
var WellKnownEndpoints = []Endpoint{
	{RuntimeDocker, "/var/run/docker.sock"},
	{RuntimeDocker, "/run/docker.sock"},
	{RuntimeContainerd, "/var/snap/microk8s/common/run/containerd.sock"},
	{RuntimeContainerd, "/run/k3s/containerd/containerd.sock"},
	{RuntimeContainerd, "/run/containerd/containerd.sock"},
	{RuntimeContainerd, "/var/run/containerd/containerd.sock"},
	{RuntimeContainerd, "/run/dockershim.sock"},
	{RuntimeCRIO, "/var/run/crio/crio.sock"},
	{RuntimeCRIO, "/run/crio/crio.sock"},
}

// Labels the runtimes and KubeArmor give meaning to.
const (
	LabelPodName           = "io.kubernetes.pod.name"
	LabelPodNamespace      = "io.kubernetes.pod.namespace"
	LabelPodUID            = "io.kubernetes.pod.uid"
	LabelKubeContainerName = "io.kubernetes.container.name"
	// LabelCRIKind is set by containerd's CRI plugin to "sandbox" on pause
	// containers and "container" on the others.
	LabelCRIKind = "io.cri-containerd.kind"
	// LabelNamespace places a container outside Kubernetes in a policy
	// namespace.
	LabelNamespace = "kubearmor.io/namespace"
	// LabelNerdctlName is the name nerdctl gives a containerd container.
	LabelNerdctlName = "nerdctl/name"
)

// DefaultNamespace is the policy namespace of containers outside
// Kubernetes without a kubearmor.io/namespace label (as KubeArmor).
const DefaultNamespace = engine.StandaloneNamespace

// Container is one run of a container. Records handed out by the Registry
// are shared and must not be modified.
type Container struct {
	Runtime Runtime `json:"runtime"`
	// Endpoint is the runtime socket the container was reported by.
	Endpoint string `json:"endpoint,omitempty"`
	// RuntimeNamespace is the containerd namespace ("k8s.io", "moby",
	// "default", ...); empty for other runtimes.
	RuntimeNamespace string `json:"runtimeNamespace,omitempty"`
	ID               string `json:"id"`
	// Name is the Kubernetes container name, Docker's or nerdctl's name,
	// or the ID when the runtime has no name.
	Name        string            `json:"name"`
	Image       string            `json:"image,omitempty"`
	ImageDigest string            `json:"imageDigest,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`

	// Set when the container belongs to a Kubernetes pod.
	PodName           string            `json:"podName,omitempty"`
	PodNamespace      string            `json:"podNamespace,omitempty"`
	KubeContainerName string            `json:"kubeContainerName,omitempty"`
	PodLabels         map[string]string `json:"podLabels,omitempty"`

	// Namespace is the policy namespace: the pod's, else the
	// kubearmor.io/namespace label, else DefaultNamespace.
	Namespace string `json:"namespace"`

	// PID is the init process (host PID namespace).
	PID uint32 `json:"pid,omitempty"`
	// CgroupID is the inode of the container's cgroup v2 directory, the
	// value bpf_get_current_cgroup_id returns inside it.
	CgroupID   uint64 `json:"cgroupID,omitempty"`
	CgroupPath string `json:"cgroupPath,omitempty"`
	// PidNS and MntNS are the inodes of the init process' namespaces.
	PidNS uint64 `json:"pidNS,omitempty"`
	MntNS uint64 `json:"mntNS,omitempty"`

	StartedAt time.Time `json:"startedAt,omitzero"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
}

// Kubernetes reports whether the container belongs to a Kubernetes pod.
func (c *Container) Kubernetes() bool { return c.PodName != "" }

// Workload is the engine.Workload policies are selected for. Postures and
// the policy mode are the caller's to fill in.
func (c *Container) Workload() engine.Workload {
	if c.Kubernetes() {
		labels := c.PodLabels
		if len(labels) == 0 {
			labels = c.Labels
		}
		return engine.Workload{Namespace: c.Namespace, Labels: labels, ContainerName: c.KubeContainerName}
	}
	return engine.Workload{Namespace: c.Namespace, Labels: c.Labels, ContainerName: c.Name, Standalone: true}
}

// FillFromLabels sets the Kubernetes fields and Namespace from c.Labels,
// and Name when it is empty (the Kubernetes or nerdctl name, else the ID).
func (c *Container) FillFromLabels() {
	l := c.Labels
	c.PodName, c.PodNamespace, c.KubeContainerName = l[LabelPodName], l[LabelPodNamespace], l[LabelKubeContainerName]
	switch {
	case c.PodName != "" && c.PodNamespace != "":
		c.Namespace = c.PodNamespace
	case l[LabelNamespace] != "":
		c.Namespace = l[LabelNamespace]
	default:
		c.Namespace = DefaultNamespace
	}
	if c.Name == "" {
		c.Name = firstNonEmpty(c.KubeContainerName, l[LabelNerdctlName], c.ID)
	}
}

// PodLabelsFrom returns the pod's own labels among a pod sandbox's labels:
// all but the io.kubernetes.* and io.cri-containerd.* bookkeeping keys.
func PodLabelsFrom(sandbox map[string]string) map[string]string {
	out := maps.Clone(sandbox)
	maps.DeleteFunc(out, func(k, _ string) bool {
		return strings.HasPrefix(k, "io.kubernetes.") || strings.HasPrefix(k, "io.cri-containerd.")
	})
	return out
}

// key identifies a container within the Registry.
type key struct {
	source, ns, id string
}

func (c *Container) key(source string) key {
	return key{source: source, ns: c.RuntimeNamespace, id: c.ID}
}

// sameRun reports whether a and b describe the same run of a container.
func sameRun(a, b *Container) bool {
	return a.CgroupID == b.CgroupID && a.PID == b.PID
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
