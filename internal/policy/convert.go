package policy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// convert turns the YAML node n at path into a JSON-compatible value,
// checking it against the structural schema s (nil: anything goes). It
// reports duplicate keys, unknown fields and schema violations, and prunes
// what Kubernetes would prune: nulls, unknown fields and ill-typed values.
// ok is false when the value is absent after pruning. measure has bounded
// the size and depth of n.
func (d *document) convert(n *yaml.Node, s *schema, path string) (v any, ok bool) {
	n = resolve(n)
	d.nodes[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, false
	}
	if s == nil {
		return d.convertAny(n, &lazyPath{name: path})
	}
	switch s.Type {
	case "object":
		return d.convertObject(n, s, path)
	case "array":
		return d.convertArray(n, s, path)
	case "string":
		return d.convertString(n, s, path)
	case "integer":
		return d.convertInteger(n, s, path)
	case "boolean":
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return d.typeError(n, path, "boolean")
		}
		var b bool
		return b, n.Decode(&b) == nil
	default:
		return d.convertAny(n, &lazyPath{name: path})
	}
}

func (d *document) typeError(n *yaml.Node, path, want string) (any, bool) {
	d.report(SeverityError, path, n, "must be %s, not %s", article(want), describe(n))
	return nil, false
}

func article(typ string) string {
	switch typ {
	case "object", "array", "integer":
		return "an " + typ
	}
	return "a " + typ
}

// describe names the YAML type of n for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!str":
		return strconv.Quote(n.Value) + " (a string)"
	case "!!int", "!!float":
		return n.Value + " (a number)"
	case "!!bool":
		return n.Value + " (a boolean)"
	}
	return strconv.Quote(n.Value)
}

// pairs iterates over the key/value pairs of a mapping node, reporting
// non-scalar and duplicate keys. A duplicate's later value wins.
func (d *document) pairs(n *yaml.Node, path *lazyPath, yield func(key string, keyNode, value *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.report(SeverityError, path.String(), k, "mapping key must be a string, not %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.report(d.strictness(), path.key(k).String(), k,
				"duplicate key %q (first at line %d); the last value wins and the earlier one is silently dropped", k.Value, first)
		}
		seen[k.Value] = k.Line
		yield(k.Value, k, val)
	}
}

func (d *document) convertObject(n *yaml.Node, s *schema, path string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, path, "object")
	}
	if s.Properties == nil && s.AdditionalProperties == nil {
		return d.convertAny(n, &lazyPath{name: path})
	}
	out := make(map[string]any, len(n.Content)/2)
	d.pairs(n, &lazyPath{name: path}, func(key string, keyNode, value *yaml.Node) {
		child := s.AdditionalProperties
		if s.Properties != nil {
			child = s.Properties[key]
			if child == nil {
				d.report(d.strictness(), field(path, key), keyNode, "unknown field %q%s", key, suggest(key, s.Properties))
				return
			}
		}
		if v, ok := d.convert(value, child, field(path, key)); ok {
			out[key] = v
		} else {
			delete(out, key)
		}
	})
	for _, r := range s.Required {
		if _, ok := out[r]; !ok {
			d.report(SeverityError, field(path, r), n, "required field %q is missing", r)
		}
	}
	return out, true
}

// suggest proposes a known field that differs from key only in case.
func suggest(key string, known map[string]*schema) string {
	for k := range known {
		if strings.EqualFold(k, key) {
			return " (did you mean " + strconv.Quote(k) + "?)"
		}
	}
	return ""
}

func (d *document) convertArray(n *yaml.Node, s *schema, path string) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		return d.typeError(n, path, "array")
	}
	if s.MaxItems != nil && len(n.Content) > *s.MaxItems {
		d.report(SeverityError, path, n, "has %d items, more than the maximum of %d", len(n.Content), *s.MaxItems)
	}
	out := make([]any, 0, len(n.Content))
	for i, item := range n.Content {
		v, ok := d.convert(item, s.Items, index(path, i))
		if !ok {
			v = nil // keep indexes aligned with the source
		}
		out = append(out, v)
	}
	return out, true
}

func (d *document) convertString(n *yaml.Node, s *schema, path string) (any, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return d.typeError(n, path, "string")
	}
	v := n.Value
	if s.MaxLength != nil && len(v) > *s.MaxLength {
		d.report(SeverityError, path, n, "is %d bytes long, more than the maximum of %d", len(v), *s.MaxLength)
	}
	if s.re != nil && !s.re.MatchString(v) {
		d.report(SeverityError, path, n, "%q does not match the pattern %s%s", v, s.Pattern, patternHint(s.re))
	}
	if len(s.Enum) > 0 && !slices.Contains(s.Enum, v) {
		d.enumError(n, s.Enum, path)
	}
	return v, true
}

// enumError reports a value outside an enum. A wrongly capitalised action is
// only a warning: KubeArmor's daemon reads actions case-insensitively and
// Bulwark does too, but a Kubernetes API server would reject the policy.
func (d *document) enumError(n *yaml.Node, enum []string, path string) {
	for _, e := range enum {
		if strings.EqualFold(e, n.Value) && strings.HasSuffix(path, "action") {
			d.report(SeverityWarning, path, n,
				"%q is read as %q, but the Kubernetes CRD only accepts %s", n.Value, e, strings.Join(enum, ", "))
			return
		}
	}
	d.report(SeverityError, path, n, "%q is not one of %s", n.Value, strings.Join(enum, ", "))
}

// patternHint explains the path patterns in words.
func patternHint(re *regexp.Regexp) string {
	switch re.String() {
	case `^\/+.*[^\/]$`:
		return " (an absolute path without a trailing slash)"
	case `^\/$|^\/.*\/$`:
		return " (an absolute directory ending in a slash)"
	case `^[^\/]+$`:
		return " (a file name without slashes)"
	}
	return ""
}

func (d *document) convertInteger(n *yaml.Node, s *schema, path string) (any, bool) {
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		return d.typeError(n, path, "integer")
	}
	if s.Minimum != nil && float64(v) < *s.Minimum || s.Maximum != nil && float64(v) > *s.Maximum {
		d.report(SeverityError, path, n, "%d is out of range [%s, %s]", v, bound(s.Minimum), bound(s.Maximum))
	}
	return v, true
}

func bound(b *float64) string {
	if b == nil {
		return "∞"
	}
	return strconv.FormatFloat(*b, 'f', -1, 64)
}

// convertAny converts n without a schema (e.g. metadata). Only the
// positions of n's direct children are recorded (e.g. metadata.name): the
// paths of deeper values are built only when a diagnostic shows them.
func (d *document) convertAny(n *yaml.Node, path *lazyPath) (any, bool) {
	n = resolve(n)
	if path.parent != nil && path.parent.parent == nil {
		d.nodes[path.String()] = n
	}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, false
	case n.Kind == yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		d.pairs(n, path, func(_ string, keyNode, value *yaml.Node) {
			if v, ok := d.convertAny(value, path.key(keyNode)); ok {
				out[keyNode.Value] = v
			}
		})
		return out, true
	case n.Kind == yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, _ := d.convertAny(item, path.item(n, i))
			out = append(out, v)
		}
		return out, true
	}
	var v any
	if err := n.Decode(&v); err != nil {
		d.report(SeverityError, path.String(), n, "invalid value: %v", err)
		return nil, false
	}
	return v, true
}

// resolve follows aliases to the value they refer to.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}
