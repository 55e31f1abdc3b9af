package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Limits on one input (a file, standard input or a LoadBytes buffer). They
// keep untrusted input from exhausting time or memory: every walk over a
// document, the JSON round trip and the lint take time linear in what they
// bound. The size limits scale with Options.MaxFileSize, so that a caller
// accepting small inputs also bounds what aliases can expand them to; real
// policies are orders of magnitude below them. See doc.go.
const (
	// maxDocuments bounds the YAML documents, empty ones included.
	maxDocuments = 10_000
	// maxDepth bounds the nesting of mappings and sequences, aliases
	// expanded (a KubeArmor policy needs about 8 levels).
	maxDepth = 100
	// maxDiagnostics bounds the diagnostics reported; further problems
	// still count (a policy with an error is left out) but are not shown.
	maxDiagnostics = 1_000

	// Per MiB of Options.MaxFileSize (at least 64 KiB): YAML nodes (keys,
	// values and list items) and bytes of keys and scalar values, each
	// alias counting as a copy of the value it refers to, and normalised
	// rules (comma lists expanded). At the default 4 MiB: 1,048,576 nodes,
	// 8 MiB of text and 131,072 rules.
	nodesPerMiB = 256 << 10
	bytesPerMiB = 2 << 20
	rulesPerMiB = 32 << 10
)

// budget is what is left of the limits of one input, shared by its
// documents, and the limits themselves for messages.
type budget struct {
	nodes, bytes, rules, diags int
	limit                      *budget
}

func newBudget(opts Options) *budget {
	base := max(opts.maxFileSize(), 64<<10)
	limit := &budget{nodes: int(base * nodesPerMiB >> 20), bytes: int(base * bytesPerMiB >> 20),
		rules: int(base * rulesPerMiB >> 20), diags: maxDiagnostics}
	b := *limit
	b.limit = limit
	return &b
}

// exhausted reports whether the input's nodes or bytes are used up.
func (b *budget) exhausted() bool { return b.nodes < 0 || b.bytes < 0 }

// size is what a subtree costs once its aliases are expanded.
type size struct{ nodes, bytes, height int }

// measure walks the document root with aliases expanded, before anything
// else reads it, and reports the first limit it exceeds: nesting deeper than
// maxDepth, an alias inside the value it refers to (which would make every
// later walk loop forever), or more nodes or scalar bytes than are left in
// the input's budget, which it charges. The size of an anchored value is
// computed once and charged at each alias, so measuring takes time linear in
// the parsed document however far aliases would expand it. It returns false
// when the document must not be read further.
func (d *document) measure(root *yaml.Node) bool {
	m := measurer{d: d, sizes: make(map[*yaml.Node]*size)}
	m.walk(root, 1, &lazyPath{})
	return !m.failed
}

type measurer struct {
	d      *document
	sizes  map[*yaml.Node]*size // of anchored values; nil while being walked
	failed bool
}

func (m *measurer) fail(n *yaml.Node, path *lazyPath, format string, args ...any) {
	m.failed = true
	m.d.report(SeverityError, path.String(), n, format, args...)
}

func (m *measurer) tooLarge(n *yaml.Node, path *lazyPath, where string) {
	l := m.d.budget.limit
	m.fail(n, path, "input too large: more than %d values or %d bytes of text with aliases expanded%s", l.nodes, l.bytes, where)
}

// walk charges n, at nesting level depth, and returns its height.
func (m *measurer) walk(n *yaml.Node, depth int, path *lazyPath) int {
	if n.Kind == yaml.AliasNode {
		return m.alias(n, depth, path)
	}
	if depth > maxDepth {
		m.fail(n, path, "nested more than %d levels deep", maxDepth)
		return 0
	}
	b := m.d.budget
	before := *b
	if n.Anchor != "" {
		m.sizes[n] = nil // in progress
	}
	b.nodes--
	b.bytes -= len(n.Value)
	if b.exhausted() {
		m.tooLarge(n, path, "")
		return 0
	}
	height := 0
	for i, c := range n.Content {
		child := path.item(n, i)
		if n.Kind == yaml.MappingNode && i%2 == 1 {
			child = path.key(n.Content[i-1])
		}
		height = max(height, m.walk(c, depth+1, child))
		if m.failed {
			return 0
		}
	}
	if n.Anchor != "" {
		m.sizes[n] = &size{before.nodes - b.nodes, before.bytes - b.bytes, height + 1}
	}
	return height + 1
}

// alias charges a copy of the value alias n refers to.
func (m *measurer) alias(n *yaml.Node, depth int, path *lazyPath) int {
	s, known := m.sizes[n.Alias]
	switch {
	case n.Alias == nil:
		return 0 // yaml.v3 rejects unknown anchors; be safe anyway
	case !known:
		// An anchor precedes its aliases, so it has been walked; be safe.
		return m.walk(n.Alias, depth, path)
	case s == nil:
		m.fail(n, path, "alias *%s refers to a value that contains it", n.Value)
		return 0
	case depth+s.height-1 > maxDepth:
		m.fail(n, path, "alias *%s nests more than %d levels deep", n.Value, maxDepth)
		return 0
	}
	b := m.d.budget
	b.nodes -= s.nodes
	b.bytes -= s.bytes
	if b.exhausted() {
		m.tooLarge(n, path, fmt.Sprintf(" (at alias *%s)", n.Value))
		return 0
	}
	return s.height
}

// lazyPath is a field path built only when a diagnostic shows it: most are
// never shown, and in schema-less subtrees such as metadata they can be
// long.
type lazyPath struct {
	parent *lazyPath
	name   string // a mapping key, or a base path when parent is nil
	index  int    // a list index when >= 0 and key is empty
}

func (p *lazyPath) String() string {
	switch {
	case p.parent == nil:
		return p.name
	case p.index >= 0:
		return index(p.parent.String(), p.index)
	}
	return field(p.parent.String(), p.name)
}

// key returns the path of the value of mapping key k.
func (p *lazyPath) key(k *yaml.Node) *lazyPath {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	return &lazyPath{parent: p, name: k.Value, index: -1}
}

// item returns the path of child i of n: a list item, or (for a
// mapping) a key, which is positioned at its mapping.
func (p *lazyPath) item(n *yaml.Node, i int) *lazyPath {
	if n.Kind != yaml.SequenceNode {
		return p
	}
	return &lazyPath{parent: p, index: i}
}

// errTooMany is the message of the diagnostic that ends an input's reports.
var errTooMany = fmt.Sprintf("more than %d problems; the rest are not reported", maxDiagnostics)
