package policy

import (
	"maps"
	"strings"

	v1 "github.com/bulwark-security/bulwark/api/security/v1"
)

// Special selector labels.
const (
	// LabelContainerName restricts a policy to named containers.
	LabelContainerName = "kubearmor.io/container.name"
	// LabelHostname and LabelHostnameRegex select nodes by name; the engine
	// interprets "*", comma lists and the regex form.
	LabelHostname      = "kubearmor.io/hostname"
	LabelHostnameRegex = "kubearmor.io/hostnamereg"
)

// podSelector normalises a KubeArmorPolicy selector.
func (s scope) podSelector(sel v1.SelectorType) Selector {
	out := Selector{MatchLabels: maps.Clone(sel.MatchLabels)}
	if names, ok := out.MatchLabels[LabelContainerName]; ok {
		delete(out.MatchLabels, LabelContainerName)
		out.ContainerNames = parseContainerNames(names)
		if len(out.ContainerNames) == 0 {
			s.reportAt(s.opts.semantic(), s.path("spec.selector.matchLabels."+LabelContainerName), "names no container")
		}
	}
	if len(out.MatchLabels) == 0 {
		out.MatchLabels = nil
	}
	for i, e := range sel.MatchExpressions {
		out.Expressions = append(out.Expressions, s.expression(index(s.path("spec.selector.matchExpressions"), i), e.Key, e.Operator, e.Values))
	}
	return out
}

// clusterSelector normalises a KubeArmorClusterPolicy selector.
func (s scope) clusterSelector(sel v1.NsSelectorType) Selector {
	var out Selector
	for i, e := range sel.MatchExpressions {
		out.Expressions = append(out.Expressions, s.expression(index(s.path("spec.selector.matchExpressions"), i), e.Key, e.Operator, e.Values))
	}
	return out
}

// expression checks one matchExpressions entry.
func (s scope) expression(path, key, op string, values []string) Expression {
	if key == "" || op == "" {
		s.reportAt(s.opts.semantic(), path, "key and operator are required")
	}
	if len(values) == 0 {
		s.reportAt(SeverityWarning, path+".values", "no values: the expression %s", map[bool]string{true: "excludes nothing", false: "selects nothing"}[op == "NotIn"])
	}
	if key == "label" {
		for i, v := range values {
			if !strings.Contains(v, "=") {
				s.reportAt(s.opts.semantic(), index(path+".values", i), "label value %q must have the form key=value", v)
			}
		}
	}
	return Expression{Key: key, Operator: op, Values: values}
}

// nodeSelector normalises a KubeArmorHostPolicy node selector.
func (s scope) nodeSelector(sel v1.NodeSelectorType) Selector {
	if _, present := s.nodes[s.path("spec.nodeSelector")]; present && len(sel.MatchLabels) == 0 {
		s.reportAt(SeverityWarning, s.path("spec.nodeSelector"), "empty nodeSelector: the policy applies to every node")
	}
	return Selector{NodeLabels: maps.Clone(sel.MatchLabels)}
}

// parseContainerNames reads "[c1, c2]" (or a single name or regex).
func parseContainerNames(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		return splitList(v[1 : len(v)-1])
	}
	return splitList(v)
}
