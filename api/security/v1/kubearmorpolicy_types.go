package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// KubeArmorPolicySpec is the desired state of a KubeArmorPolicy.
type KubeArmorPolicySpec struct {
	Selector SelectorType `json:"selector,omitempty"`

	ContainerRules `json:",inline"`
}

// ContainerRules are the rules of the container policy kinds
// (KubeArmorPolicy and KubeArmorClusterPolicy), which differ only in their
// selectors.
type ContainerRules struct {
	Process      ProcessType      `json:"process,omitempty"`
	File         FileType         `json:"file,omitempty"`
	Network      NetworkType      `json:"network,omitempty"`
	Capabilities CapabilitiesType `json:"capabilities,omitempty"`
	Syscalls     SyscallsType     `json:"syscalls,omitempty"`
	Presets      []PresetType     `json:"presets,omitempty"`

	// AppArmor holds raw AppArmor rules for the AppArmor enforcer.
	AppArmor string `json:"apparmor,omitempty"`

	RuleMeta `json:",inline"`
}

// KubeArmorPolicy protects the containers of selected pods in its namespace.
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ksp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,priority=10
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector.matchLabels`,priority=10
type KubeArmorPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubeArmorPolicySpec `json:"spec,omitempty"`
	Status PolicyStatus        `json:"status,omitempty"`
}

// KubeArmorPolicyList is a list of KubeArmorPolicy.
// +kubebuilder:object:root=true
type KubeArmorPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubeArmorPolicy `json:"items"`
}
