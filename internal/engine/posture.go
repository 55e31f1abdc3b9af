package engine

import (
	"fmt"
	"strings"
)

// Namespace annotations that override the global default postures, and the
// workload annotation that switches enforcement.
const (
	AnnotationFilePosture         = "kubearmor-file-posture"
	AnnotationNetworkPosture      = "kubearmor-network-posture"
	AnnotationCapabilitiesPosture = "kubearmor-capabilities-posture"
	AnnotationPolicy              = "kubearmor-policy"
)

// ResolvePostures applies a namespace's posture annotations to the global
// postures. An annotation that is neither audit nor block (in any case) is
// ignored, the global value is kept and a warning says so. Host postures
// come from the host configuration and need no resolving.
func ResolvePostures(global Postures, namespaceAnnotations map[string]string) (Postures, []string) {
	resolved := global
	var warnings []string
	for _, a := range []struct {
		key string
		dst *Posture
	}{
		{AnnotationFilePosture, &resolved.File},
		{AnnotationNetworkPosture, &resolved.Network},
		{AnnotationCapabilitiesPosture, &resolved.Capabilities},
	} {
		v, ok := namespaceAnnotations[a.key]
		if !ok {
			continue
		}
		switch p := Posture(strings.ToLower(strings.TrimSpace(v))); p {
		case PostureAudit, PostureBlock:
			*a.dst = p
		default:
			warnings = append(warnings, fmt.Sprintf("namespace annotation %s=%q is not audit or block; using %q", a.key, v, *a.dst))
		}
	}
	return resolved, warnings
}

// ParsePolicyMode parses a kubearmor-policy annotation value. Empty means
// enabled; an unknown value is an error.
func ParsePolicyMode(s string) (PolicyMode, error) {
	switch m := PolicyMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "", PolicyEnabled:
		return PolicyEnabled, nil
	case PolicyDisabled, PolicyAudited:
		return m, nil
	default:
		return PolicyEnabled, fmt.Errorf("%s annotation %q: want enabled, disabled or audited", AnnotationPolicy, s)
	}
}
