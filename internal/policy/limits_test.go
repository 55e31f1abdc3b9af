package policy

import (
	"fmt"
	"strings"
	"testing"
)

// small scales the size limits down to those of a 64 KiB input: 16,384
// nodes, 128 KiB of text, 2,048 rules.
var small = Options{MaxFileSize: 64 << 10}

// laughs is a "billion laughs" document: a list of ten levels of ten
// aliases each, indented by indent, expanding to 10^levels values.
func laughs(indent string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s- &a0 [x, x, x, x, x, x, x, x, x, x]\n", indent)
	for i := 1; i < levels; i++ {
		prev := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "%s- &a%d [%s]\n", indent, i, strings.Repeat(prev+", ", 9)+prev)
	}
	return b.String()
}

// policyWith is a valid policy with extra, indented under metadata.
func policyWith(extra string) string {
	return "apiVersion: security.kubearmor.com/v1\nkind: KubeArmorPolicy\nmetadata:\n  name: p\n" + extra +
		"spec:\n  selector: {matchLabels: {app: x}}\n  file: {matchPaths: [{path: /etc/passwd}]}\n  action: Block\n"
}

// TestLimits feeds pathological inputs found by fuzzing and review: each
// must end quickly with a diagnostic naming the limit and where it was hit.
func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		want  string // the first error, as FILE:LINE:COL: FIELD: SEVERITY: message
	}{
		{"billion laughs at the top level", laughs("", 9), small,
			"t:5:8: [4][0]: error: input too large: more than 16384 values or 131072 bytes of text with aliases expanded (at alias *a3)"},
		{"billion laughs at the top level, default limits", laughs("", 12), Options{},
			"t:6:48: [5][8]: error: input too large: more than 1048576 values or 8388608 bytes of text with aliases expanded (at alias *a4)"},
		{"billion laughs in metadata", policyWith("  labels:\n    l:\n" + laughs("    ", 9)), small,
			"t:11:12: metadata.labels.l[4][0]: error: input too large: more than 16384 values or 131072 bytes of text with aliases expanded (at alias *a3)"},
		{"aliased large scalar", policyWith("  annotations:\n    a: &s " + strings.Repeat("x", 40<<10) + "\n    b: [*s, *s, *s]\n"), small,
			"t:7:17: metadata.annotations.b[2]: error: input too large: more than 16384 values or 131072 bytes of text with aliases expanded (at alias *s)"},
		{"large document within the default limits", "[" + strings.Repeat("1,", 20000) + "1]", Options{},
			"t:1:2: [0]: error: document must be a mapping, not 1 (a number)"},
		{"too many values", "[" + strings.Repeat("1,", 20000) + "1]", small,
			"t:1:32768: [16383]: error: input too large: more than 16384 values or 131072 bytes of text with aliases expanded"},
		{"alias cycle", "a: &a [*a]\n", Options{},
			"t:1:8: a[0]: error: alias *a refers to a value that contains it"},
		{"alias cycle in a mapping", "a: &a {b: {c: *a}}\n", Options{},
			"t:1:15: a.b.c: error: alias *a refers to a value that contains it"},
		{"deep nesting", strings.Repeat("[", 150) + strings.Repeat("]", 150), Options{},
			"t:1:101: " + strings.Repeat("[0]", 100) + ": error: nested more than 100 levels deep"},
		{"deep nesting through an alias", "a: &a " + strings.Repeat("[", 60) + strings.Repeat("]", 60) + "\nb: " +
			strings.Repeat("[", 50) + "*a" + strings.Repeat("]", 50) + "\n", Options{},
			"t:2:54: b" + strings.Repeat("[0]", 50) + ": error: alias *a nests more than 100 levels deep"},
		{"too many documents", strings.Repeat("---\n", 10_001) + "x: 1\n", Options{},
			"t:10001:1: error: more than 10000 YAML documents; the rest are not read"},
		{"comma list beyond the rule limit", header + "  network: {matchProtocols: [{protocol: '" +
			strings.Repeat("tcp,", 3000) + "tcp'}]}\n  action: Block\n", small,
			"t:5:30: spec.network.matchProtocols[0]: error: more than 2048 rules in one input (comma lists expanded)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadBytes("t", []byte(tt.input), tt.opts)
			got := ""
			for _, d := range res.Diagnostics {
				if d.Severity == SeverityError {
					got = d.String()
					break
				}
			}
			if got != tt.want {
				t.Errorf("first error:\n got %q\nwant %q", got, tt.want)
			}
			if tt.want != "" && len(res.Policies) > 0 {
				t.Errorf("%d policies loaded despite the error", len(res.Policies))
			}
		})
	}
}

func TestTooManyDiagnostics(t *testing.T) {
	res := LoadBytes("t", []byte("["+strings.Repeat("x, ", 1500)+"x]"), Options{})
	if n := len(res.Diagnostics); n != maxDiagnostics+1 {
		t.Fatalf("%d diagnostics, want %d", n, maxDiagnostics+1)
	}
	if got, want := res.Diagnostics[maxDiagnostics].String(), "t: error: more than 1000 problems; the rest are not reported"; got != want {
		t.Errorf("last diagnostic %q, want %q", got, want)
	}
}

// TestErrorsPerObject checks that an error in one item of a List keeps out
// that item only.
func TestErrorsPerObject(t *testing.T) {
	item := "- apiVersion: security.kubearmor.com/v1\n  kind: KubeArmorPolicy\n  metadata: {name: %s}\n" +
		"  spec: {file: {matchPaths: [{path: %s}]}, action: Block}\n"
	in := "apiVersion: v1\nkind: List\nitems:\n" + fmt.Sprintf(item, "bad", "relative") + fmt.Sprintf(item, "good", "/etc/passwd")
	res := LoadBytes("t", []byte(in), Options{})
	if len(res.Policies) != 1 || res.Policies[0].Name != "good" || res.Errors() != 1 {
		t.Errorf("policies %v, diagnostics %v; want only policy good and one error", res.Policies, res.Diagnostics)
	}
}

// TestLintManyDuplicates checks that the lint reports n identical rules
// once each, not once per pair, and directory coverage once per directory.
func TestLintManyDuplicates(t *testing.T) {
	const n = 5000
	in := header + "  file:\n    matchDirectories: [{dir: /etc/, recursive: true}, {dir: /etc/}, {dir: /etc/}]\n    matchPaths: [" +
		strings.Repeat("{path: /etc/passwd}, ", n-1) + "{path: /etc/passwd}]\n  action: Block\n"
	res := LoadBytes("t", []byte(in), Options{})
	count := make(map[string]int)
	for _, d := range res.Diagnostics {
		count[strings.Fields(d.Message)[0]]++
	}
	// Each path: covered by /etc/ recursive and by the first /etc/; each
	// path but the first and the second /etc/ duplicate an earlier rule.
	if count[`"/etc/passwd"`] != 2*n || count["duplicate"] != n || len(res.Diagnostics) != 3*n {
		t.Errorf("counts %v in %d diagnostics, want %d covered and %d duplicates", count, len(res.Diagnostics), 2*n, n)
	}
}

// BenchmarkLoadBillionLaughs loads 10^12 values' worth of aliases with the
// default limits; it stops at the node limit after measuring only the parsed
// document.
func BenchmarkLoadBillionLaughs(b *testing.B) {
	in := []byte(laughs("", 12))
	for b.Loop() {
		if res := LoadBytes("t", in, Options{}); res.Errors() != 1 {
			b.Fatal(res.Diagnostics)
		}
	}
}
