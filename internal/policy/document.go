package policy

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is one YAML document being checked. It records the value node of
// every field path it visits, so later checks can point at exact positions.
type document struct {
	file  string
	opts  Options
	nodes map[string]*yaml.Node
	diags []Diagnostic
	// errors counts the error diagnostics, including dropped ones.
	errors int
	// budget is shared by the documents of one input.
	budget *budget
}

func newDocument(file string, opts Options, b *budget) *document {
	return &document{file: file, opts: opts, nodes: make(map[string]*yaml.Node), budget: b}
}

// report records a diagnostic positioned at n (which may be nil). Past the
// input's maxDiagnostics, diagnostics are counted but dropped.
func (d *document) report(sev Severity, field string, n *yaml.Node, format string, args ...any) {
	if sev == SeverityError {
		d.errors++
	}
	if d.budget.diags--; d.budget.diags < 0 {
		if d.budget.diags == -1 {
			d.diags = append(d.diags, Diagnostic{File: d.file, Severity: SeverityError, Message: errTooMany})
		}
		return
	}
	diag := Diagnostic{File: d.file, Field: field, Severity: sev, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		diag.Line, diag.Column = n.Line, n.Column
	}
	d.diags = append(d.diags, diag)
}

// reportAt records a diagnostic positioned at field's node (or its nearest
// recorded ancestor's).
func (d *document) reportAt(sev Severity, field, format string, args ...any) {
	d.report(sev, field, d.at(field), format, args...)
}

// at returns the node recorded for field, or for its nearest ancestor.
func (d *document) at(field string) *yaml.Node {
	for {
		if n, ok := d.nodes[field]; ok {
			return n
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			return d.nodes[""]
		}
		field = field[:i]
	}
}

// location returns the source position of field.
func (d *document) location(field string) Location {
	loc := Location{File: d.file}
	if n := d.at(field); n != nil {
		loc.Line, loc.Column = n.Line, n.Column
	}
	return loc
}

// strictness is the severity of problems Kubernetes would silently accept
// (duplicate keys, unknown fields): errors unless lenient.
func (d *document) strictness() Severity { return d.opts.semantic() }

// field joins a parent path and a key.
func field(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// index joins a parent path and a list index.
func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}
