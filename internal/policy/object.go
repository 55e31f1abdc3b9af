package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	v1 "github.com/bulwark-security/bulwark/api/security/v1"
)

// apiVersion is the only API version of the KubeArmor kinds.
var apiVersion = v1.SchemeGroupVersion.String()

// object checks one YAML object at path and, when it is a valid KubeArmor
// policy, appends its normalised form to res. Lists (kind: List, or a
// top-level sequence) are checked item by item.
func (d *document) object(n *yaml.Node, path string, res *Result) {
	n = resolve(n)
	d.nodes[path] = n
	switch n.Kind {
	case yaml.SequenceNode:
		for i, item := range n.Content {
			d.object(item, index(path, i), res)
		}
		return
	case yaml.MappingNode:
	default:
		if n.Tag != "!!null" {
			d.report(SeverityError, path, n, "document must be a mapping, not %s", describe(n))
		}
		return
	}
	version, kind, items := scalar(n, "apiVersion"), scalar(n, "kind"), lookup(n, "items")
	switch {
	case kind == nil:
		d.report(SeverityWarning, path, n, "not a Kubernetes object (no kind); skipped")
	case strings.HasSuffix(kind.Value, "List") && items != nil && items.Kind == yaml.SequenceNode:
		d.nodes[field(path, "items")] = items
		for i, item := range items.Content {
			d.object(item, index(field(path, "items"), i), res)
		}
	case !isKubeArmorKind(Kind(kind.Value)):
		d.report(SeverityNote, field(path, "kind"), kind, "kind %q is not a KubeArmor policy; skipped", kind.Value)
	case version == nil || version.Value != apiVersion:
		got := "missing"
		if version != nil {
			got = fmt.Sprintf("%q", version.Value)
		}
		d.report(SeverityError, field(path, "apiVersion"), orNode(version, n), "apiVersion is %s, want %q", got, apiVersion)
	default:
		if p := d.policy(Kind(kind.Value), n, path); p != nil {
			res.Policies = append(res.Policies, p)
		}
	}
}

func isKubeArmorKind(k Kind) bool {
	switch k {
	case KindPolicy, KindClusterPolicy, KindHostPolicy, KindNetworkPolicy:
		return true
	}
	return false
}

// lookup returns the value node of key in mapping n (the last one wins).
func lookup(n *yaml.Node, key string) *yaml.Node {
	var v *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v = n.Content[i+1]
		}
	}
	return v
}

// scalar is lookup restricted to scalar values.
func scalar(n *yaml.Node, key string) *yaml.Node {
	if v := lookup(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v
	}
	return nil
}

func orNode(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// policy validates a KubeArmor object of kind k and normalises it. It
// returns nil when the object has errors (other objects of the document,
// e.g. the items of a List, do not count).
func (d *document) policy(k Kind, n *yaml.Node, path string) *Policy {
	schemas, err := schemas()
	if err != nil {
		d.report(SeverityError, path, n, "load CRD schemas: %v", err)
		return nil
	}
	errors := d.errors
	value, _ := d.convert(n, schemas[k], path)
	sub := d.sub(path)
	obj, err := json.Marshal(value)
	if err != nil {
		d.report(SeverityError, path, n, "encode: %v", err)
		return nil
	}
	p := &Policy{Kind: k, Location: d.location(path)}
	switch k {
	case KindPolicy:
		var o v1.KubeArmorPolicy
		if sub.decode(obj, &o) {
			p.Name, p.Namespace = o.Name, o.Namespace
			p.Selector = sub.podSelector(o.Spec.Selector)
			sub.rules(p, fromContainerRules(o.Spec.ContainerRules))
		}
	case KindClusterPolicy:
		var o v1.KubeArmorClusterPolicy
		if sub.decode(obj, &o) {
			p.Name = o.Name
			p.Selector = sub.clusterSelector(o.Spec.Selector)
			sub.rules(p, fromContainerRules(o.Spec.ContainerRules))
		}
	case KindHostPolicy:
		var o v1.KubeArmorHostPolicy
		if sub.decode(obj, &o) {
			p.Name = o.Name
			p.Selector = sub.nodeSelector(o.Spec.NodeSelector)
			sub.rules(p, fromHostSpec(o.Spec))
		}
	case KindNetworkPolicy:
		var o v1.KubeArmorNetworkPolicy
		if sub.decode(obj, &o) {
			p.Name = o.Name
			p.Selector = sub.networkSelector(o.Spec)
			sub.networkPolicy(o.Spec)
		}
	}
	sub.metadata(p)
	if d.errors > errors {
		return nil
	}
	return p
}

// scope is a document seen from one object's path.
type scope struct {
	*document
	base string
}

func (d *document) sub(path string) scope { return scope{d, path} }

// path returns the full path of a field of the object.
func (s scope) path(f string) string { return field(s.base, f) }

// decode unmarshals the pruned object into its API type.
func (s scope) decode(obj []byte, into any) bool {
	if err := json.Unmarshal(obj, into); err != nil {
		s.reportAt(SeverityError, s.base, "decode: %v", err)
		return false
	}
	return true
}

// metadata checks the object's name.
func (s scope) metadata(p *Policy) {
	if p.Name == "" {
		s.reportAt(SeverityError, s.path("metadata.name"), "metadata.name is required")
	}
}
