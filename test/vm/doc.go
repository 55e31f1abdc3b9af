// Package vm is Bulwark's kernel lab: it runs tests that enforce (BPF-LSM
// programs, AppArmor profiles) inside a VM with Debian's stock cloud kernel under
// qemu (TCG), never on the host. See README.md for usage.
//
// A guest image is a cpio initramfs the lab builds itself: a cached base archive
// (busybox, apparmor_parser and its libraries, the agent cmd/vminit as /init,
// the test user), keyed by a hash of its content, followed by a per-run payload
// (the project's commands from ./cmd/..., the jobs' files, the manifest). The
// agent mounts proc, sysfs, securityfs, bpffs, tracefs and cgroup v2, runs the
// jobs as root and streams their output and artifacts as JSON lines over the
// second serial port; the first carries the kernel console.
//
// TestGuest is the entry point of `make test-vm`: it finds every package with
// test files tagged vmguest (GuestPackages), compiles them (TestJobs), runs
// them all in one VM (Lab.Run) and reports each guest test as a subtest
// (Replay). Lab.RunScript and Lab.Shell (cmd/vmshell) are for ad-hoc use.
package vm
