package policy

import (
	"fmt"
	"strings"
)

// Severity is how serious a Diagnostic is.
type Severity string

// Diagnostic severities. Errors keep a policy out of Result.Policies;
// warnings and notes do not.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityNote    Severity = "note"
)

// Diagnostic is one problem found in a policy source.
type Diagnostic struct {
	File   string `json:"file"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// Field is the dotted JSON path of the offending value, e.g.
	// spec.process.matchPaths[2].path; empty for file-level problems.
	Field    string   `json:"field,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// String formats d as FILE:LINE:COL: FIELD: SEVERITY: message, the FIELD
// part omitted when empty and LINE:COL omitted when unknown. The severity
// leads the message so that errors and warnings can be told apart (and
// grepped) in the compiler-style format editors understand.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.Line, d.Column)
	}
	b.WriteString(": ")
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(string(d.Severity))
	b.WriteString(": ")
	b.WriteString(d.Message)
	return b.String()
}

// Result is what loading produced.
type Result struct {
	// Files is the number of files (or stdin, or byte buffers) read.
	Files int
	// Policies are the normalised policies free of errors, in input order.
	Policies []*Policy
	// Diagnostics are the problems found, in input order.
	Diagnostics []Diagnostic
}

// Errors returns the number of error diagnostics.
func (r *Result) Errors() int { return r.count(SeverityError) }

// Warnings returns the number of warning diagnostics.
func (r *Result) Warnings() int { return r.count(SeverityWarning) }

func (r *Result) count(s Severity) int {
	n := 0
	for _, d := range r.Diagnostics {
		if d.Severity == s {
			n++
		}
	}
	return n
}

func (r *Result) merge(o *Result) {
	r.Files += o.Files
	r.Policies = append(r.Policies, o.Policies...)
	r.Diagnostics = append(r.Diagnostics, o.Diagnostics...)
}
