package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KubeArmorHostPolicySpec is the desired state of a KubeArmorHostPolicy.
type KubeArmorHostPolicySpec struct {
	NodeSelector NodeSelectorType `json:"nodeSelector"`

	Process      ProcessType          `json:"process,omitempty"`
	File         FileType             `json:"file,omitempty"`
	Network      HostNetworkType      `json:"network,omitempty"`
	Capabilities HostCapabilitiesType `json:"capabilities,omitempty"`
	Syscalls     SyscallsType         `json:"syscalls,omitempty"`
	Device       DeviceType           `json:"device,omitempty"`

	// AppArmor holds raw AppArmor rules for the AppArmor enforcer.
	AppArmor string `json:"apparmor,omitempty"`

	RuleMeta `json:",inline"`
}

// KubeArmorHostPolicy protects the processes of selected nodes.
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=hsp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,priority=10
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.nodeSelector.matchLabels`,priority=10
type KubeArmorHostPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubeArmorHostPolicySpec `json:"spec,omitempty"`
	Status PolicyStatus            `json:"status,omitempty"`
}

// KubeArmorHostPolicyList is a list of KubeArmorHostPolicy.
// +kubebuilder:object:root=true
type KubeArmorHostPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubeArmorHostPolicy `json:"items"`
}
