// Package mountinfo reads the kernel's list of mounts (/proc/PID/mountinfo).
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Mount is one line of a mountinfo file.
type Mount struct {
	Point  string // where it is mounted, unescaped
	FSType string // e.g. "cgroup2", "bpf", "securityfs"
}

// Read parses a mountinfo file, e.g. /proc/self/mountinfo.
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ms, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ms, nil
}

// Parse parses mountinfo lines; malformed lines are skipped.
func Parse(r io.Reader) ([]Mount, error) {
	var ms []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// id parent major:minor root point options [optional...] - fstype source superopts
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+1 >= len(fields) {
			continue
		}
		ms = append(ms, Mount{Point: unescape(fields[4]), FSType: fields[sep+1]})
	}
	return ms, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
