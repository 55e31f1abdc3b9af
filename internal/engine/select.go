package engine

import (
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark-security/bulwark/internal/policy"
)

// Special selector keys.
const (
	LabelHostname         = "kubearmor.io/hostname"
	LabelHostnameRegex    = "kubearmor.io/hostnamereg"
	k8sLabelHostname      = "kubernetes.io/hostname"
	k8sLabelHostnameRegex = "kubernetes.io/hostnamereg"
)

// Expression keys and operators of matchExpressions.
const (
	exprKeyLabel     = "label"
	exprKeyNamespace = "namespace"
	opIn             = "In"
	opNotIn          = "NotIn"
)

// Select returns, in input order, the policies that apply to w.
func Select(policies []*policy.Policy, w Workload) []*policy.Policy {
	var out []*policy.Policy
	for _, p := range policies {
		if p != nil && Selects(p, w) {
			out = append(out, p)
		}
	}
	return out
}

// Selects reports whether p applies to w. Host policies apply only to hosts,
// KubeArmorPolicy and KubeArmorClusterPolicy only to containers, and
// KubeArmorNetworkPolicy (a host firewall) to neither.
func Selects(p *policy.Policy, w Workload) bool {
	switch p.Kind {
	case policy.KindPolicy:
		return !w.Host && policyNamespace(p, w) == w.Namespace && selectsContainer(p.Selector, w)
	case policy.KindClusterPolicy:
		return !w.Host && namespaceSelected(p.Selector.Expressions, w.Namespace) && selectsContainer(p.Selector, w)
	case policy.KindHostPolicy:
		return w.Host && selectsNode(p.Selector.NodeLabels, w)
	default:
		return false
	}
}

// Namespaces a KubeArmorPolicy without metadata.namespace lives in.
const (
	DefaultNamespace    = "default"             // Kubernetes: kubectl's default
	StandaloneNamespace = "container_namespace" // outside Kubernetes, as upstream
)

// policyNamespace is p's namespace, or the default one for w's mode when
// the policy names none.
func policyNamespace(p *policy.Policy, w Workload) string {
	switch {
	case p.Namespace != "":
		return p.Namespace
	case w.Standalone:
		return StandaloneNamespace
	default:
		return DefaultNamespace
	}
}

// selectsContainer checks matchLabels, label expressions and container
// names (AND).
func selectsContainer(s policy.Selector, w Workload) bool {
	for k, v := range s.MatchLabels {
		if got, ok := w.Labels[k]; !ok || got != v {
			return false
		}
	}
	return labelsSelected(s.Expressions, w.Labels) && containerSelected(s.ContainerNames, w)
}

// labelsSelected evaluates the `label` expressions in order: the values of
// all In expressions are ORed, a NotIn value present in labels excludes the
// workload, but a NotIn that comes after an In is ignored.
func labelsSelected(exprs []policy.Expression, labels map[string]string) bool {
	seenIn, inMatched, excluded := false, false, false
	for _, e := range exprs {
		if e.Key != exprKeyLabel {
			continue
		}
		has := slices.ContainsFunc(e.Values, func(kv string) bool {
			k, v, _ := strings.Cut(kv, "=")
			got, ok := labels[k]
			return ok && got == v
		})
		switch e.Operator {
		case opIn:
			seenIn = true
			inMatched = inMatched || has
		case opNotIn:
			excluded = excluded || (has && !seenIn)
		}
	}
	return !excluded && (!seenIn || inMatched)
}

// namespaceSelected evaluates a cluster policy's `namespace` expressions:
// with any In, the namespace must be one of the In values; otherwise it must
// not be one of the NotIn values. No expressions select every namespace.
func namespaceSelected(exprs []policy.Expression, ns string) bool {
	seenIn, inMatched, excluded := false, false, false
	for _, e := range exprs {
		if e.Key != exprKeyNamespace {
			continue
		}
		has := slices.Contains(e.Values, ns)
		switch e.Operator {
		case opIn:
			seenIn = true
			inMatched = inMatched || has
		case opNotIn:
			excluded = excluded || has
		}
	}
	if seenIn {
		return inMatched
	}
	return !excluded
}

// containerSelected checks the kubearmor.io/container.name restriction:
// exact names in Kubernetes, unanchored POSIX regular expressions (as
// upstream) in standalone mode. An invalid expression matches nothing.
func containerSelected(names []string, w Workload) bool {
	if len(names) == 0 {
		return true
	}
	if !w.Standalone {
		return slices.Contains(names, w.ContainerName)
	}
	return slices.ContainsFunc(names, func(expr string) bool {
		re, err := regexp.CompilePOSIX(expr)
		return err == nil && re.MatchString(w.ContainerName)
	})
}

// selectsNode checks a host policy's nodeSelector. Every entry must hold;
// an empty selector selects every host.
func selectsNode(nodeLabels map[string]string, w Workload) bool {
	for k, v := range nodeLabels {
		switch {
		case k == LabelHostname || (!w.Standalone && k == k8sLabelHostname):
			if !hostnameListed(v, w.Hostname) {
				return false
			}
		case k == LabelHostnameRegex || (!w.Standalone && k == k8sLabelHostnameRegex):
			if !hostnameMatches(v, w.Hostname) {
				return false
			}
		case w.Standalone:
			return false // a standalone host has no other labels
		default:
			if got, ok := w.NodeLabels[k]; !ok || got != v {
				return false
			}
		}
	}
	return true
}

// hostnameListed reports whether hostname is in the comma-separated list,
// where "*" stands for any host.
func hostnameListed(list, hostname string) bool {
	for name := range strings.SplitSeq(list, ",") {
		if name = strings.TrimSpace(name); name == "*" || name == hostname {
			return true
		}
	}
	return false
}

// hostnameMatches treats expr as an anchored regular expression in which
// "*" means ".*". An invalid expression matches nothing.
func hostnameMatches(expr, hostname string) bool {
	re, err := regexp.Compile("^(?:" + strings.ReplaceAll(expr, "*", ".*") + ")$")
	return err == nil && re.MatchString(hostname)
}
