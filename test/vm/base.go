package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// Host programs copied into the guest. More (runc, containerd) go into baseImage
// with CopyBinary, which brings their libraries along.
const (
	hostBusybox        = "/bin/busybox" // busybox-static
	hostApparmorParser = "/sbin/apparmor_parser"
)

// containerRuntime are the container runtime's programs (package
// containerd, which brings runc), copied with their libraries (runc needs
// libseccomp) to the same paths in the guest, for container tests
// (test/e2e's TestContainer*). The guest has no overlay module: they use
// containerd's native snapshotter, and runc runs without pivot_root (the
// initramfs root cannot be pivoted).
var containerRuntime = []string{"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/runc"}

// baseImage is the part of the guest root that changes rarely: busybox, the
// agent as /init, apparmor_parser with its libraries, the container runtime
// (containerRuntime), the users and the empty directories. Each run adds a
// payload layer (see payloadImage).
func baseImage(ctx context.Context, vminit string) (*Image, error) {
	im := NewImage()
	if err := im.CopyFile("/bin/busybox", hostBusybox); err != nil {
		return nil, err
	}
	applets, err := exec.CommandContext(ctx, hostBusybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a != "busybox" {
			im.Symlink("/bin/"+a, "busybox")
		}
	}
	if err := im.CopyFile("/init", vminit); err != nil {
		return nil, err
	}
	if err := im.CopyBinary(ctx, "/sbin/apparmor_parser", hostApparmorParser); err != nil {
		return nil, err
	}
	for _, p := range containerRuntime {
		if err := im.CopyBinary(ctx, p, p); err != nil {
			return nil, err
		}
	}
	im.File(lab.Marker, 0o644, []byte("bulwark kernel lab guest\n"))
	im.File("/etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/bin/sh\n%s:x:%d:%d::%s:/bin/sh\n",
		lab.TestUser, lab.TestUID, lab.TestGID, lab.TestHome))
	im.File("/etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\n%s:x:%d:\n", lab.TestUser, lab.TestGID))
	im.File("/etc/hostname", 0o644, []byte("lab\n"))
	im.Dir(lab.TestHome, 0o755, lab.TestUID, lab.TestGID)
	im.Dir("/root", 0o700, 0, 0)
	for _, d := range []string{"/usr/local/bin", "/etc/apparmor.d", "/var/cache/apparmor", lab.JobsDir, lab.OutDir} {
		im.Dir(d, 0o755, 0, 0)
	}
	for _, m := range lab.Mounts {
		im.Dir(m.Target, 0o755, 0, 0)
	}
	return im, nil
}

// cachedArchive returns the path of im's archive in dir, named by its key,
// writing it first when absent. It keeps the keep most recently used archives
// with the same prefix and removes older ones.
func cachedArchive(dir, prefix string, im *Image, keep int) (string, error) {
	p := filepath.Join(dir, prefix+"-"+im.Key()[:16]+".cpio")
	now := time.Now()
	if err := os.Chtimes(p, now, now); err == nil {
		return p, prune(dir, prefix+"-*.cpio", keep)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+prefix+"-*")
	if err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := im.WriteTo(tmp); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	// Concurrent runs may write the same archive; rename makes either win whole.
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	// The kernel's file times are coarse (a clock tick); set a precise one for prune.
	if err := os.Chtimes(p, now, now); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	return p, prune(dir, prefix+"-*.cpio", keep)
}

// prune removes all but the keep most recently modified entries of dir that
// match pattern.
func prune(dir, pattern string, keep int) error {
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return fmt.Errorf("prune %s: %w", dir, err)
	}
	mtime := func(p string) time.Time {
		info, err := os.Stat(p)
		if err != nil {
			return time.Time{}
		}
		return info.ModTime()
	}
	slices.SortFunc(paths, func(a, b string) int { return mtime(b).Compare(mtime(a)) })
	for _, p := range paths[min(keep, len(paths)):] {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}
