package vm

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Options configures a Lab. The zero value gives the defaults documented per field.
type Options struct {
	// Kernel is the guest kernel image. Default: $BULWARK_VM_KERNEL, else the
	// newest /boot/vmlinuz-*-cloud-amd64 (Debian's linux-image-cloud-amd64).
	Kernel string
	// MemoryMiB is the guest memory. Default 2048.
	MemoryMiB int
	// CPUs is the number of guest CPUs. Default 2.
	CPUs int
	// Timeout bounds one VM, from qemu's start to its exit; qemu is killed
	// after it. Default 20 minutes. Shells have no timeout.
	Timeout time.Duration
	// CacheDir holds cached base images and the run directories.
	// Default: .cache/vm under the module root.
	CacheDir string
	// Console, if set, receives a live copy of the guest's serial console.
	Console io.Writer
}

// Lab builds the guest image once and boots VMs from it.
type Lab struct {
	opts Options
	root string // module root
	tmp  string // build outputs, removed by Close
	base string // cached base archive
	bins []File // the project's commands for /usr/local/bin
}

// File is a host file to copy into the guest, links followed.
type File struct {
	Host, Guest string
}

// New builds the project's commands (./cmd/...) and the guest agent static,
// and finds or builds the cached base image. Close removes the build outputs.
func New(ctx context.Context, opts Options) (*Lab, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Kernel == "" {
		if opts.Kernel, err = findKernel(); err != nil {
			return nil, err
		}
	}
	opts.MemoryMiB = cmp.Or(opts.MemoryMiB, 2048)
	opts.CPUs = cmp.Or(opts.CPUs, 2)
	opts.Timeout = cmp.Or(opts.Timeout, 20*time.Minute)
	opts.CacheDir = cmp.Or(opts.CacheDir, filepath.Join(root, ".cache", "vm"))
	tmp, err := os.MkdirTemp("", "bulwark-lab-")
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	l := &Lab{opts: opts, root: root, tmp: tmp}
	if err := l.build(ctx); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close removes the lab's build outputs; cached images stay.
func (l *Lab) Close() error { return os.RemoveAll(l.tmp) }

// build compiles the commands and the agent, and prepares the base image.
func (l *Lab) build(ctx context.Context) error {
	binDir := filepath.Join(l.tmp, "bin")
	if err := l.goCmd(ctx, "build", "-trimpath", "-ldflags=-s -w", "-o", binDir+"/",
		"./cmd/...", "./test/vm/cmd/vminit"); err != nil {
		return err
	}
	ents, err := os.ReadDir(binDir)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, e := range ents {
		if e.Name() != "vminit" {
			l.bins = append(l.bins, File{Host: filepath.Join(binDir, e.Name()), Guest: "/usr/local/bin/" + e.Name()})
		}
	}
	base, err := baseImage(ctx, filepath.Join(binDir, "vminit"))
	if err != nil {
		return err
	}
	l.base, err = cachedArchive(l.opts.CacheDir, "base", base, 3)
	return err
}

// goCmd runs the go command in the module root with cgo off.
func (l *Lab) goCmd(ctx context.Context, args ...string) error {
	_, err := l.goOutput(ctx, args...)
	return err
}

// goOutput runs the go command in the module root with cgo off and returns its stdout.
func (l *Lab) goOutput(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = l.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("lab: not inside the module")
	}
	return filepath.Dir(gomod), nil
}
