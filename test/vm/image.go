package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"syscall"
)

// Image is the content of a guest root file system (or one layer of it),
// written as a cpio archive for the kernel's initramfs. Parents of each path
// are added as directories owned by root. Contents are held in memory.
type Image struct {
	entries map[string]imageEntry // by absolute guest path
}

type imageEntry struct {
	mode     uint32 // type and permission bits, as in syscall.S_IF*
	uid, gid int
	data     []byte // file content, or a symlink's target
}

// NewImage returns an empty image.
func NewImage() *Image { return &Image{entries: map[string]imageEntry{}} }

// Dir adds a directory.
func (im *Image) Dir(p string, perm uint32, uid, gid int) {
	im.add(p, imageEntry{mode: syscall.S_IFDIR | perm, uid: uid, gid: gid})
}

// File adds a regular file owned by root.
func (im *Image) File(p string, perm uint32, data []byte) {
	im.add(p, imageEntry{mode: syscall.S_IFREG | perm, data: data})
}

// Symlink adds a symbolic link.
func (im *Image) Symlink(p, target string) {
	im.add(p, imageEntry{mode: syscall.S_IFLNK | 0o777, data: []byte(target)})
}

// CopyFile adds the host file host at guest path p, with symbolic links
// followed and the host file's permission bits.
func (im *Image) CopyFile(p, host string) error {
	data, err := os.ReadFile(host)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	info, err := os.Stat(host)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	im.File(p, uint32(info.Mode().Perm()), data)
	return nil
}

// CopyBinary adds the host executable host at guest path p together with the
// shared libraries and dynamic loader it needs (per ldd), each at its host path.
func (im *Image) CopyBinary(ctx context.Context, p, host string) error {
	if err := im.CopyFile(p, host); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "ldd", host).CombinedOutput()
	if err != nil && !isStatic(out) {
		return fmt.Errorf("image: ldd %s: %w: %s", host, err, out)
	}
	for _, lib := range parseLDD(out) {
		if err := im.CopyFile(lib, lib); err != nil {
			return err
		}
	}
	return nil
}

// isStatic tells whether ldd's output says its argument needs no libraries.
func isStatic(lddOut []byte) bool {
	return bytes.Contains(lddOut, []byte("not a dynamic executable")) ||
		bytes.Contains(lddOut, []byte("statically linked"))
}

// parseLDD returns the absolute library paths in ldd's output, in order.
func parseLDD(out []byte) []string {
	var libs []string
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		p, _, _ := strings.Cut(line, " (")
		if strings.HasPrefix(p, "/") {
			libs = append(libs, p)
		}
	}
	return libs
}

func (im *Image) add(p string, e imageEntry) {
	p = path.Clean("/" + p)
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if _, ok := im.entries[dir]; !ok {
			im.entries[dir] = imageEntry{mode: syscall.S_IFDIR | 0o755}
		}
	}
	im.entries[p] = e
}

// Key is a hash of the image's content: equal keys, equal archives.
func (im *Image) Key() string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(im.entries)) {
		e := im.entries[p]
		sum := sha256.Sum256(e.data)
		fmt.Fprintf(h, "%s\x00%o %d %d %x\n", p, e.mode, e.uid, e.gid, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteTo writes the image as a newc cpio archive, entries sorted by path so
// that parents come first and the bytes depend on the content only.
func (im *Image) WriteTo(w io.Writer) (int64, error) {
	c := &cpioWriter{w: w}
	for _, p := range slices.Sorted(maps.Keys(im.entries)) {
		e := im.entries[p]
		c.entry(p[1:], e.mode, e.uid, e.gid, e.data)
	}
	err := c.close()
	return c.n, err
}
