package pathglob

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern string
		path    string
		want    bool
	}{
		{"/etc/passwd", "/etc/passwd", true},
		{"/etc/passwd", "/etc/passwd2", false},
		{"/etc/*", "/etc/passwd", true},
		{"/etc/*", "/etc/ssl/certs", false},
		{"/etc/*", "/etc/", false},
		{"/etc/**", "/etc/ssl/certs/ca.pem", true},
		{"/etc/**", "/etc/", false},
		{"/etc/**", "/etc//x", false},
		{"/etc/***", "/etc/a/b", true},
		{"/etc/*.conf", "/etc/nginx.conf", true},
		{"/etc/*.conf", "/etc/.conf", false}, // "/*" needs one char before ".conf"
		{"/etc/x*.conf", "/etc/x.conf", true},
		{"/etc/*.conf", "/etc/nginx/x.conf", false},
		{"/etc/**.conf", "/etc/nginx/x.conf", true},
		{"/etc/a*", "/etc/a", true},
		{"/home/*/.ssh/**", "/home/alice/.ssh/id_rsa", true},
		{"/home/*/.ssh/**", "/home/.ssh/id_rsa", false},
		{"/**/sh", "/bin/sh", true},
		{"/**/sh", "/usr/local/bin/sh", true},
		{"/**/sh", "/bin/bash", false},
		{"/tmp/?", "/tmp/a", true},
		{"/tmp/?", "/tmp/ab", false},
		{"/tmp/?", "/tmp//", false},
		{"/tmp/?x", "/tmp/éx", true},
		{"/dev/tty[0-9]", "/dev/tty7", true},
		{"/dev/tty[0-9]", "/dev/ttyS", false},
		{"/dev/tty[^0-9]", "/dev/ttyS", true},
		{"/dev/tty[^0-9]", "/dev/tty1", false},
		{"/a[^x]b", "/a/b", false},
		{"/a[!-0]b", "/a/b", false},
		{"/a[!-0]b", "/a.b", true},
		{`/a[\]]b`, "/a]b", true},
		{`/a[x\-]b`, "/a-b", true},
		{"/usr/bin/{curl,wget}", "/usr/bin/wget", true},
		{"/usr/bin/{curl,wget}", "/usr/bin/nc", false},
		{"/usr/{bin,lib/{x,y}}/z", "/usr/lib/y/z", true},
		{"/usr/{bin,lib/{x,y}}/z", "/usr/lib/z", false},
		{"/usr/{,local/}bin/python", "/usr/bin/python", true},
		{"/usr/{,local/}bin/python", "/usr/local/bin/python", true},
		{"/a,b", "/a,b", true},
		{`/a\*b`, "/a*b", true},
		{`/a\*b`, "/axb", false},
		{"/{*,x}", "/", true}, // '*' after '{' may be empty
		{"/var/log/**/*.log", "/var/log/app/x.log", true},
		{"/var/log/**/*.log", "/var/log/x.log", false},
		{"", "", true},
		{"*", "", true},
		{"*", "a/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" vs "+tt.path, func(t *testing.T) {
			g, err := Compile(tt.pattern)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := g.Match(tt.path); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
			if got := Match(tt.pattern, tt.path); got != tt.want {
				t.Errorf("package Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		pattern string
		offset  int
		msg     string
	}{
		{"/a/{b,c", 3, "unclosed '{'"},
		{"/a/{b,{c,d}", 3, "unclosed '{'"},
		{"/a/{b,{c,d", 6, "unclosed '{'"},
		{"/a/b}", 4, "unmatched '}'"},
		{"/a/[bc", 3, "unclosed '['"},
		{"/a/b]", 4, "unmatched ']'"},
		{"/a/[]", 3, "empty '[]'"},
		{"/a/[^]", 3, "empty '[]'"},
		{"/a/[z-a]", 5, "reversed range"},
		{`/a/b\`, 4, "trailing backslash"},
		{"/a/\xff", 3, "invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, err := Compile(tt.pattern)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Compile error = %v, want *SyntaxError", err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("got offset %d %q, want offset %d %q", se.Offset, se.Msg, tt.offset, tt.msg)
			}
			if Match(tt.pattern, tt.pattern) {
				t.Error("a malformed pattern matched")
			}
		})
	}
}

func TestLiteralAndPrefix(t *testing.T) {
	tests := []struct {
		pattern, prefix string
		literal         bool
	}{
		{"/etc/passwd", "/etc/passwd", true},
		{`/etc/\*`, "/etc/*", true},
		{"/etc/*.conf", "/etc/", false},
		{"{a,b}", "", false},
	}
	for _, tt := range tests {
		g := MustCompile(tt.pattern)
		lit, ok := g.Literal()
		if ok != tt.literal || g.Prefix() != tt.prefix || (ok && lit != tt.prefix) {
			t.Errorf("%q: Literal() = %q, %v; Prefix() = %q", tt.pattern, lit, ok, g.Prefix())
		}
		if g.String() != tt.pattern {
			t.Errorf("String() = %q", g.String())
		}
	}
}

func TestLargePatternAllocatesOnlyBeyondStackLimit(t *testing.T) {
	small := MustCompile("/usr/{bin,sbin,lib}/**/*.so")
	if n := testing.AllocsPerRun(100, func() { small.Match("/usr/lib/x86_64/libc.so") }); n != 0 {
		t.Errorf("small pattern: %v allocs per Match, want 0", n)
	}
	long := "/" + strings.Repeat("a?", 200) + "*"
	big := MustCompile(long)
	if !big.Match("/" + strings.Repeat("ab", 200) + "zzz") {
		t.Error("large pattern did not match")
	}
}

func TestNoExponentialBlowUp(t *testing.T) {
	pattern := strings.Repeat("**a", 30) + "{b,c}"
	path := strings.Repeat("a", 5000)
	if MustCompile(pattern).Match(path) {
		t.Error("matched a path without b or c")
	}
}

func TestMultiWordNFAAgreesWithReference(t *testing.T) {
	patterns := []string{
		"/*" + strings.Repeat("a?", 40) + "{x,y}",          // two words, on the stack
		"/**" + strings.Repeat("[a-c]", 300) + "/**",       // beyond the stack limit
		"/{" + strings.Repeat("a*,", 70) + "b}/" + "*.log", // wide alternation
	}
	paths := []string{
		"/q" + strings.Repeat("ab", 40) + "x",
		"/q" + strings.Repeat("ab", 40) + "z",
		"/d/" + strings.Repeat("abc", 100) + "/e",
		"/aaaa/x.log",
		"/b/x.log",
		"/c/x.log",
	}
	for _, p := range patterns {
		g := MustCompile(p)
		ref, err := referenceRegexp(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if got, want := g.Match(path), ref.MatchString(path); got != want {
				t.Errorf("%q vs %q: got %v, reference %v", p, path, got, want)
			}
		}
	}
}
