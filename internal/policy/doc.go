// Package policy loads, validates, normalises and lints KubeArmor policies
// (security.kubearmor.com/v1) into the model defined in model.go.
package policy
