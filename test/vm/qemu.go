package vm

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// kernelCmdline keeps kernel messages on the console (ttyS0) to warnings and
// worse (with their stack dumps, which show where a hung guest is stuck) and
// turns a panic into an immediate reboot, which qemu's -no-reboot turns into
// an exit.
const kernelCmdline = "console=ttyS0 loglevel=5 panic=-1"

// qemuArgs is the qemu command line for a VM with the given initramfs. The
// console is qemu's stdio; results (ttyS1) go to the file results. An
// interactive VM multiplexes the qemu monitor on stdio (Ctrl-A C, Ctrl-A X).
func qemuArgs(o Options, initrd, results string, interactive bool) []string {
	console := "stdio"
	if interactive {
		console = "mon:stdio"
	}
	// KVM exists on these machines but hangs guests: software emulation only.
	// Single-threaded TCG: multi-threaded TCG misses the kernel's cross-CPU
	// text patching (tracepoint and trampoline attach) and soft-locks the
	// guest; see README.md.
	return []string{
		"-accel", "tcg,thread=single", "-cpu", "max",
		"-m", strconv.Itoa(o.MemoryMiB), "-smp", strconv.Itoa(o.CPUs),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", o.Kernel, "-initrd", initrd, "-append", kernelCmdline,
		"-serial", console, "-serial", "file:" + results,
	}
}

// findKernel returns $BULWARK_VM_KERNEL or the newest Debian cloud kernel in /boot.
func findKernel() (string, error) {
	if k := os.Getenv("BULWARK_VM_KERNEL"); k != "" {
		return k, nil
	}
	ks, err := filepath.Glob("/boot/vmlinuz-*-cloud-amd64")
	if err != nil || len(ks) == 0 {
		return "", fmt.Errorf("no /boot/vmlinuz-*-cloud-amd64: run hack/install-deps.sh (linux-image-cloud-amd64)")
	}
	return slices.MaxFunc(ks, compareVersions), nil
}

// compareVersions compares strings with their runs of digits taken as numbers,
// so that vmlinuz-6.1.0-10 sorts after vmlinuz-6.1.0-9.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, ra := splitDigits(a)
		db, rb := splitDigits(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = ra, rb
			continue
		}
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// splitDigits splits s into its leading digits and the rest.
func splitDigits(s string) (digits, rest string) {
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
	if i < 0 {
		i = len(s)
	}
	return s[:i], s[i:]
}
