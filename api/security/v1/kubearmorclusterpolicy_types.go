package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ClusterMatchExpressionsType is a KubeArmorClusterPolicy selector expression.
type ClusterMatchExpressionsType struct {
	// +kubebuilder:validation:Enum=namespace;label
	Key string `json:"key,omitempty"`
	// +kubebuilder:validation:Enum=In;NotIn
	Operator string `json:"operator,omitempty"`
	// Values are namespaces (key namespace) or "key=value" labels (key label).
	Values []string `json:"values,omitempty"`
}

// NsSelectorType selects the namespaces and pods of a KubeArmorClusterPolicy.
type NsSelectorType struct {
	MatchExpressions []ClusterMatchExpressionsType `json:"matchExpressions,omitempty"`
}

// KubeArmorClusterPolicySpec is the desired state of a KubeArmorClusterPolicy.
type KubeArmorClusterPolicySpec struct {
	Selector NsSelectorType `json:"selector,omitempty"`

	ContainerRules `json:",inline"`
}

// KubeArmorClusterPolicy protects the containers of selected namespaces.
// +genclient
// +genclient:nonNamespaced
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=csp
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`,priority=10
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=`.spec.selector.matchExpressions`,priority=10
type KubeArmorClusterPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubeArmorClusterPolicySpec `json:"spec,omitempty"`
	Status PolicyStatus               `json:"status,omitempty"`
}

// KubeArmorClusterPolicyList is a list of KubeArmorClusterPolicy.
// +kubebuilder:object:root=true
type KubeArmorClusterPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubeArmorClusterPolicy `json:"items"`
}
