package engine

import (
	"testing"

	"github.com/bulwark-security/bulwark/internal/policy"
)

func TestSelects(t *testing.T) {
	expr := func(key, op string, values ...string) policy.Expression {
		return policy.Expression{Key: key, Operator: op, Values: values}
	}
	withSelector := func(p *policy.Policy, s policy.Selector) *policy.Policy { p.Selector = s; return p }
	withNamespace := func(p *policy.Policy, ns string) *policy.Policy { p.Namespace = ns; return p }
	csp := func(exprs ...policy.Expression) *policy.Policy {
		return &policy.Policy{Kind: policy.KindClusterPolicy, Name: "c", Selector: policy.Selector{Expressions: exprs}}
	}
	hsp := func(nodeLabels map[string]string) *policy.Policy {
		return &policy.Policy{Kind: policy.KindHostPolicy, Name: "h", Selector: policy.Selector{NodeLabels: nodeLabels}}
	}
	host := Workload{Host: true, Hostname: "node-1", NodeLabels: map[string]string{"zone": "a", "kubernetes.io/hostname": "node-1"}}
	vm := Workload{Host: true, Hostname: "node-1", Standalone: true}
	docker := web
	docker.Standalone, docker.ContainerName = true, "web-7f9c"

	tests := []struct {
		name string
		p    *policy.Policy
		w    Workload
		want bool
	}{
		{"a KSP selects by namespace and labels", ksp("p"), web, true},
		{"a KSP ignores other namespaces", ksp("p"), Workload{Namespace: "other", Labels: web.Labels}, false},
		{"a KSP needs every matchLabels entry", withSelector(ksp("p"), policy.Selector{MatchLabels: map[string]string{"app": "web", "tier": "back"}}), web, false},
		{"an empty KSP selector selects the whole namespace", withSelector(ksp("p"), policy.Selector{}), web, true},
		{"a KSP without namespace is in default in Kubernetes", withNamespace(ksp("p"), ""), web, true},
		{"a KSP without namespace is in container_namespace outside Kubernetes", withNamespace(ksp("p"), ""),
			Workload{Namespace: StandaloneNamespace, Labels: web.Labels, Standalone: true}, true},
		{"a KSP without namespace misses default outside Kubernetes", withNamespace(ksp("p"), ""),
			Workload{Namespace: "default", Labels: web.Labels, Standalone: true}, false},
		{"a KSP never applies to a host", ksp("p"), Workload{Host: true, Namespace: "default", Labels: web.Labels}, false},
		{"label In values are ORed", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "In", "app=db", "tier=front")}}), web, true},
		{"label In with no value present excludes", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "In", "app=db")}}), web, false},
		{"two In expressions are ORed", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "In", "app=db"), expr("label", "In", "app=web")}}), web, true},
		{"label NotIn excludes", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "NotIn", "tier=front")}}), web, false},
		{"label NotIn of an absent label keeps", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "NotIn", "tier=back")}}), web, true},
		{"label NotIn after an In is ignored", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "In", "app=web"), expr("label", "NotIn", "tier=front")}}), web, true},
		{"label NotIn before an In still excludes", withSelector(ksp("p"), policy.Selector{Expressions: []policy.Expression{expr("label", "NotIn", "tier=front"), expr("label", "In", "app=web")}}), web, false},
		{"container names are exact in Kubernetes", withSelector(ksp("p"), policy.Selector{ContainerNames: []string{"nginx", "sidecar"}}), web, true},
		{"container names exclude other containers", withSelector(ksp("p"), policy.Selector{ContainerNames: []string{"ngin"}}), web, false},
		{"container names are regular expressions outside Kubernetes", withSelector(ksp("p"), policy.Selector{ContainerNames: []string{"^web-[0-9a-f]+$"}}), docker, true},
		{"container name expressions are unanchored", withSelector(ksp("p"), policy.Selector{ContainerNames: []string{"eb-7"}}), docker, true},
		{"an invalid container name expression selects nothing", withSelector(ksp("p"), policy.Selector{ContainerNames: []string{"web-("}}), docker, false},
		{"a CSP without expressions selects every namespace", csp(), web, true},
		{"a CSP namespace In selects listed namespaces", csp(expr("namespace", "In", "prod", "default")), web, true},
		{"a CSP namespace In excludes others", csp(expr("namespace", "In", "prod")), web, false},
		{"a CSP namespace NotIn excludes", csp(expr("namespace", "NotIn", "default")), web, false},
		{"a CSP namespace NotIn keeps others", csp(expr("namespace", "NotIn", "kube-public")), web, true},
		{"a CSP namespace In wins over NotIn", csp(expr("namespace", "NotIn", "default"), expr("namespace", "In", "default")), web, true},
		{"a CSP combines namespace and label", csp(expr("namespace", "In", "default"), expr("label", "In", "app=db")), web, false},
		{"a CSP never applies to a host", csp(), host, false},
		{"an HSP selects by hostname", hsp(map[string]string{LabelHostname: "node-1"}), host, true},
		{"an HSP hostname list", hsp(map[string]string{LabelHostname: "node-0, node-1"}), host, true},
		{"an HSP hostname star", hsp(map[string]string{LabelHostname: "*"}), vm, true},
		{"an HSP other hostname", hsp(map[string]string{LabelHostname: "node-2"}), host, false},
		{"an HSP hostname regex", hsp(map[string]string{LabelHostnameRegex: "node-*"}), vm, true},
		{"an HSP hostname regex is anchored", hsp(map[string]string{LabelHostnameRegex: "ode-1"}), vm, false},
		{"an HSP node label", hsp(map[string]string{"zone": "a"}), host, true},
		{"an HSP node label mismatch", hsp(map[string]string{"zone": "b"}), host, false},
		{"an HSP kubernetes hostname label", hsp(map[string]string{"kubernetes.io/hostname": "node-1"}), host, true},
		{"a VM has no labels but its hostname", hsp(map[string]string{"zone": "a"}), Workload{Host: true, Hostname: "node-1", Standalone: true, NodeLabels: map[string]string{"zone": "a"}}, false},
		{"an HSP never applies to a container", hsp(nil), web, false},
		{"a network policy is not decided here", &policy.Policy{Kind: policy.KindNetworkPolicy}, host, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Selects(tt.p, tt.w); got != tt.want {
				t.Errorf("Selects = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectKeepsInputOrder(t *testing.T) {
	a, b, other := ksp("a"), ksp("b"), ksp("x")
	other.Namespace = "other"
	got := Select([]*policy.Policy{b, nil, other, a}, web)
	if len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("Select = %v", got)
	}
}
