package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPBlockType is a CIDR (IPv4 or IPv6).
type IPBlockType struct {
	CIDR string `json:"cidr"`
}

// NetworkPeerType is one peer of an ingress or egress rule.
type NetworkPeerType struct {
	IPBlock IPBlockType `json:"ipBlock"`
}

// PortType is a port (number or http, https, ssh, dns) or a port range.
type PortType struct {
	Port string `json:"port"`
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	EndPort *int32 `json:"endPort,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=TCP;UDP;SCTP;tcp;udp;sctp
	Protocol string `json:"protocol,omitempty"`
}

// TrafficRule is what ingress and egress rules share.
type TrafficRule struct {
	// +optional
	Iface []string `json:"iface,omitempty"`
	// +optional
	Ports []PortType `json:"ports,omitempty"`
	// Limit is a bandwidth quota per Duration, e.g. 500MB.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+(KB|MB|GB|K|M|G)?$`
	Limit string `json:"limit,omitempty"`
	// Duration is the quota window, e.g. 2h, 30m, 45s.
	// +optional
	Duration string `json:"duration,omitempty"`

	RuleMeta `json:",inline"`
}

// IngressType matches incoming traffic.
type IngressType struct {
	// +optional
	From []NetworkPeerType `json:"from,omitempty"`

	TrafficRule `json:",inline"`
}

// EgressType matches outgoing traffic.
type EgressType struct {
	// +optional
	To []NetworkPeerType `json:"to,omitempty"`

	TrafficRule `json:",inline"`
}

// NetworkPolicySelectorType selects the pods of a network policy (bandwidth
// quotas only).
type NetworkPolicySelectorType struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// KubeArmorNetworkPolicySpec is the desired state of a KubeArmorNetworkPolicy.
type KubeArmorNetworkPolicySpec struct {
	// +optional
	NodeSelector NodeSelectorType `json:"nodeSelector,omitempty"`
	// +optional
	Selector NetworkPolicySelectorType `json:"selector,omitempty"`

	Ingress []IngressType `json:"ingress,omitempty"`
	Egress  []EgressType  `json:"egress,omitempty"`

	// Level is the scope of quotas: Pod (default) or Policy.
	// +optional
	// +kubebuilder:validation:Enum=Pod;Policy;pod;policy
	Level string `json:"level,omitempty"`

	RuleMeta `json:",inline"`
}

// KubeArmorNetworkPolicy is a host firewall and pod bandwidth-quota policy.
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=nsp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,priority=10
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.nodeSelector.matchLabels`,priority=10
type KubeArmorNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubeArmorNetworkPolicySpec `json:"spec,omitempty"`
	Status PolicyStatus               `json:"status,omitempty"`
}

// KubeArmorNetworkPolicyList is a list of KubeArmorNetworkPolicy.
// +kubebuilder:object:root=true
type KubeArmorNetworkPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubeArmorNetworkPolicy `json:"items"`
}
