package vm

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestImageArchiveExtractsWithCpio(t *testing.T) {
	im := NewImage()
	im.File("/etc/motd", 0o644, []byte("hello\n"))
	im.File("/bin/tool", 0o755, []byte("odd-sized\x00content"))
	im.Symlink("/bin/alias", "tool")
	im.Dir("/home/tester", 0o750, 1000, 1000)
	var buf bytes.Buffer
	n, err := im.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n%512 != 0 {
		t.Errorf("WriteTo = %d bytes, wrote %d; want equal and a multiple of 512", n, buf.Len())
	}

	dir := t.TempDir()
	cmd := exec.Command("cpio", "-i", "-d", "--no-absolute-filenames", "--quiet")
	cmd.Dir, cmd.Stdin = dir, &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	for path, want := range map[string]string{"etc/motd": "hello\n", "bin/tool": "odd-sized\x00content"} {
		if got, err := os.ReadFile(filepath.Join(dir, path)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "bin/alias")); err != nil || target != "tool" {
		t.Errorf("bin/alias -> %q, %v; want tool", target, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "bin/tool")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("bin/tool mode = %v, %v; want 0755", info.Mode(), err)
	}
}

func TestImageKeyFollowsContent(t *testing.T) {
	build := func(content string, mode uint32) *Image {
		im := NewImage()
		im.File("/a/b", mode, []byte(content))
		im.Symlink("/a/c", "b")
		return im
	}
	base := build("x", 0o644)
	if k1, k2 := base.Key(), build("x", 0o644).Key(); k1 != k2 {
		t.Errorf("equal images, keys %s and %s", k1, k2)
	}
	for name, other := range map[string]*Image{"content": build("y", 0o644), "mode": build("x", 0o755)} {
		if other.Key() == base.Key() {
			t.Errorf("a change of %s keeps the key", name)
		}
	}
	var a, b bytes.Buffer
	base.WriteTo(&a)
	build("x", 0o644).WriteTo(&b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("equal images, different archives")
	}
}

func TestCachedArchive(t *testing.T) {
	dir := t.TempDir()
	im := NewImage()
	im.File("/f", 0o644, []byte("1"))
	p1, err := cachedArchive(dir, "base", im, 2)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := cachedArchive(dir, "base", im, 2); err != nil || p != p1 {
		t.Errorf("second lookup = %s, %v; want the cached %s", p, err, p1)
	}
	for _, c := range []string{"2", "3"} {
		im.File("/f", 0o644, []byte(c))
		if _, err := cachedArchive(dir, "base", im, 2); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "base-*.cpio")); len(got) != 2 || slices.Contains(got, p1) {
		t.Errorf("cache holds %v; want the 2 newest archives", got)
	}
}

func TestParseLDD(t *testing.T) {
	out := []byte("\tlinux-vdso.so.1 (0x00007ffd)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f33)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f34)\n")
	want := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if got := parseLDD(out); !slices.Equal(got, want) {
		t.Errorf("parseLDD = %q, want %q", got, want)
	}
}
