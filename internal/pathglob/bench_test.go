package pathglob

import "testing"

var benchGlobs = []struct{ name, pattern, path string }{
	{"literal", "/etc/passwd", "/etc/passwd"},
	{"star", "/etc/*.conf", "/etc/nginx.conf"},
	{"doublestar", "/var/log/**/*.log", "/var/log/nginx/2024/access.log"},
	{"alternation", "/usr/{bin,sbin,local/{bin,sbin}}/{curl,wget,nc}", "/usr/local/sbin/wget"},
	{"prefix-miss", "/home/*/.ssh/**", "/usr/lib/x86_64-linux-gnu/libc.so.6"},
}

func BenchmarkGlobMatch(b *testing.B) {
	for _, bg := range benchGlobs {
		g := MustCompile(bg.pattern)
		b.Run(bg.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g.Match(bg.path)
			}
		})
	}
}

// BenchmarkReferenceRegexp is the baseline: the same patterns as Go regexps.
func BenchmarkReferenceRegexp(b *testing.B) {
	for _, bg := range benchGlobs {
		re, err := referenceRegexp(bg.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bg.name, func(b *testing.B) {
			for b.Loop() {
				re.MatchString(bg.path)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		MustCompile("/usr/{bin,sbin,local/{bin,sbin}}/{curl,wget,nc}")
	}
}
