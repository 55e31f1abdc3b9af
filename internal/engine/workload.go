package engine

import "github.com/bulwark-security/bulwark/internal/policy"

// PolicyMode is a workload's enforcement switch, the value of its
// kubearmor-policy annotation.
type PolicyMode string

// Policy modes. The zero value means PolicyEnabled.
const (
	PolicyEnabled  PolicyMode = "enabled"
	PolicyDisabled PolicyMode = "disabled"
	PolicyAudited  PolicyMode = "audited"
)

// Posture is what happens, in allow-list mode, to an operation that no
// Allow rule permits.
type Posture string

// Postures. The zero value means PostureAudit, KubeArmor's default.
const (
	PostureAudit Posture = "audit"
	PostureBlock Posture = "block"
)

// Postures holds the default posture of each allow-list class.
type Postures struct {
	File         Posture `json:"file"`
	Network      Posture `json:"network"`
	Capabilities Posture `json:"capabilities"`
}

// of returns the posture governing rules of class c (process rules share the
// file posture); an unset posture is audit.
func (p Postures) of(c policy.Class) Posture {
	var v Posture
	switch c.PostureClass() {
	case policy.ClassFile:
		v = p.File
	case policy.ClassNetwork:
		v = p.Network
	case policy.ClassCapabilities:
		v = p.Capabilities
	}
	if v == PostureBlock {
		return PostureBlock
	}
	return PostureAudit
}

// Workload is what policies are selected for: a host, or a container.
type Workload struct {
	// Host is set for the node or VM itself; only host policies apply to
	// it. Otherwise the workload is a container and only KubeArmorPolicy and
	// KubeArmorClusterPolicy apply.
	Host bool `json:"host,omitempty"`
	// Hostname and NodeLabels identify a host.
	Hostname   string            `json:"hostname,omitempty"`
	NodeLabels map[string]string `json:"nodeLabels,omitempty"`

	// Namespace, Labels and ContainerName identify a container.
	Namespace     string            `json:"namespace,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	ContainerName string            `json:"containerName,omitempty"`
	// NamespaceAnnotations, when set, may override Postures for a container
	// (kubearmor-file-posture and friends, see ResolvePostures).
	NamespaceAnnotations map[string]string `json:"namespaceAnnotations,omitempty"`

	// Standalone is set outside Kubernetes (systemd/VM or plain Docker
	// mode): container-name selectors are then regular expressions, and a
	// host's only identity is kubearmor.io/hostname=<Hostname>.
	Standalone bool `json:"standalone,omitempty"`

	// PolicyMode is the kubearmor-policy switch; empty means enabled.
	PolicyMode PolicyMode `json:"policyMode,omitempty"`
	// Postures are the configured defaults: the global ones for a container
	// (before namespace annotations), the host ones for a host.
	Postures Postures `json:"postures"`
}
