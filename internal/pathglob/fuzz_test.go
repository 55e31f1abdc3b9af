package pathglob

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceRegexp translates a well-formed pattern into an anchored Go
// regular expression with the same meaning. It is deliberately written
// independently of the parser and the NFA, as a single pass over the text.
func referenceRegexp(pattern string) (*regexp.Regexp, error) {
	var re strings.Builder
	re.WriteString(`^(?s:`)
	depth := 0
	for i := 0; i < len(pattern); {
		switch c := pattern[i]; {
		case c == '*':
			j := i
			for j < len(pattern) && pattern[j] == '*' {
				j++
			}
			if i > 0 && pattern[i-1] == '/' {
				re.WriteString(`[^/]`)
			}
			if j-i > 1 {
				re.WriteString(`.*`)
			} else {
				re.WriteString(`[^/]*`)
			}
			i = j
		case c == '?':
			re.WriteString(`[^/]`)
			i++
		case c == '{':
			re.WriteString(`(?:`)
			depth++
			i++
		case c == '}' && depth > 0:
			re.WriteString(`)`)
			depth--
			i++
		case c == ',' && depth > 0:
			re.WriteString(`|`)
			i++
		case c == '[':
			n, class := referenceClass(pattern[i:])
			re.WriteString(class)
			i += n
		default:
			if c == '\\' {
				i++
			}
			r, size := utf8.DecodeRuneInString(pattern[i:])
			fmt.Fprintf(&re, `\x{%x}`, r)
			i += size
		}
	}
	re.WriteString(`)$`)
	return regexp.Compile(re.String())
}

// referenceClass translates the bracket expression at the start of s,
// removing '/' from it, and returns how many bytes it spans.
func referenceClass(s string) (int, string) {
	i := 1
	var out strings.Builder
	out.WriteString("[")
	if s[i] == '^' {
		out.WriteString("^/")
		i++
	}
	next := func() rune {
		if s[i] == '\\' {
			i++
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		return r
	}
	for s[i] != ']' {
		lo := next()
		hi := lo
		if s[i] == '-' && s[i+1] != ']' {
			i++
			hi = next()
		}
		for _, part := range [][2]rune{{lo, min(hi, '/'-1)}, {max(lo, '/'+1), hi}} {
			if part[0] <= part[1] {
				fmt.Fprintf(&out, `\x{%x}-\x{%x}`, part[0], part[1])
			}
		}
	}
	if out.Len() == 1 { // only '/' was listed: a class that matches nothing
		return i + 1, `[^\x00-\x{10ffff}]`
	}
	out.WriteString("]")
	return i + 1, out.String()
}

func FuzzMatchEquivalence(f *testing.F) {
	seeds := [][2]string{
		{"/etc/*", "/etc/passwd"},
		{"/etc/**", "/etc/a/b"},
		{"/**/sh", "/bin/sh"},
		{"/usr/{bin,lib/{x,y}}/z", "/usr/lib/y/z"},
		{"/dev/tty[^0-9]", "/dev/ttyS"},
		{"/a[!-0]b", "/a/b"},
		{`/a[\]x-z]b`, "/a]b"},
		{"/tmp/?x", "/tmp/\xffx"},
		{"/{*,x}/**.conf", "/x/a/b.conf"},
		{"/a/{b,c", "/a/b"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		g, err := Compile(pattern)
		if err != nil {
			if Match(pattern, path) {
				t.Fatalf("malformed %q matched", pattern)
			}
			return
		}
		ref, err := referenceRegexp(pattern)
		if err != nil {
			t.Fatalf("pattern %q compiled, but its reference did not: %v", pattern, err)
		}
		if got, want := g.Match(path), ref.MatchString(path); got != want {
			t.Fatalf("Compile(%q).Match(%q) = %v, reference %s says %v", pattern, path, got, ref, want)
		}
	})
}
