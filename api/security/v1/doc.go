// Package v1 holds the Kubernetes API types of the KubeArmor policy kinds
// (security.kubearmor.com/v1): KubeArmorPolicy, KubeArmorClusterPolicy,
// KubeArmorHostPolicy and KubeArmorNetworkPolicy.
//
// The kubebuilder markers reproduce the validation of the upstream KubeArmor
// CRDs, so the CRDs generated into deploy/crds accept exactly what a
// Kubernetes cluster running KubeArmor accepts. Package internal/policy
// validates documents against those generated schemas; semantic checks that
// the CRDs cannot express live there too.
//
// +kubebuilder:object:generate=true
// +groupName=security.kubearmor.com
package v1
