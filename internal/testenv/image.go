package testenv

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Busybox is the busybox-static binary the image is built from.
const Busybox = "/bin/busybox"

// idleCmd keeps a container's init alive until SIGTERM or SIGINT.
var idleCmd = []string{"/bin/sh", "-c", "trap 'exit 0' TERM INT; while true; do sleep 3600 & wait $!; done"}

// BusyboxArchive builds a docker-archive (the `docker save` format) of a
// one-layer image holding busybox and its applet links, tagged with tags.
func BusyboxArchive(tags ...string) ([]byte, error) {
	out, err := exec.Command(Busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w (install busybox-static)", Busybox, err)
	}
	bin, err := os.ReadFile(Busybox)
	if err != nil {
		return nil, err
	}
	mtime := time.Unix(0, 0)
	var layer tarWriter
	for _, d := range []string{"bin", "tmp", "etc", "proc", "sys", "dev"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		layer.add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: mtime}, nil)
	}
	layer.add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, ModTime: mtime}, bin)
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			layer.add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mtime}, nil)
		}
	}
	layer.add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, []byte("root:x:0:0:root:/:/bin/sh\n"))
	layer.add(&tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, []byte("root:x:0:\n"))
	layerBytes, err := layer.bytes()
	if err != nil {
		return nil, err
	}
	diffID := digest(layerBytes)
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": idleCmd},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
	})
	if err != nil {
		return nil, err
	}
	cfgName := digest(cfg) + ".json"
	layerName := diffID + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": tags, "Layers": []string{layerName}}})
	if err != nil {
		return nil, err
	}
	var archive tarWriter
	archive.add(&tar.Header{Name: cfgName, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, cfg)
	archive.add(&tar.Header{Name: layerName, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, layerBytes)
	archive.add(&tar.Header{Name: "manifest.json", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime}, manifest)
	return archive.bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// tarWriter writes a tar stream into memory, keeping the first error.
type tarWriter struct {
	buf bytes.Buffer
	tw  *tar.Writer
	err error
}

func (w *tarWriter) add(h *tar.Header, data []byte) {
	if w.tw == nil {
		w.tw = tar.NewWriter(&w.buf)
	}
	if w.err != nil {
		return
	}
	h.Size = int64(len(data))
	h.Format = tar.FormatPAX
	if w.err = w.tw.WriteHeader(h); w.err == nil && len(data) > 0 {
		_, w.err = w.tw.Write(data)
	}
}

func (w *tarWriter) bytes() ([]byte, error) {
	if w.tw == nil {
		w.tw = tar.NewWriter(&w.buf)
	}
	if w.err != nil {
		return nil, w.err
	}
	if err := w.tw.Close(); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}
