// Package probe finds out what the running kernel and host offer Bulwark:
// BTF, the active LSMs, whether a BPF-LSM program really loads (and the
// errno when it does not), AppArmor, the cgroup layout, bpffs and the
// container runtimes' sockets. It is the one place such checks live: the
// agent picks its enforcer from it, tests skip on it and `bulwark probe`
// prints it.
//
// Host probes once per process (sync.Once) and may mount securityfs, as
// KubeArmor does, to read the LSM list; Run probes again with explicit
// Options (tests, alternative roots). Choose turns a Report and the lsm
// preference into an enforcer choice with the reason every rejected
// candidate was rejected; it is pure.
package probe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/mountinfo"
)

// Report is what one probe found.
type Report struct {
	Kernel   string `json:"kernel"`
	Lockdown string `json:"lockdown,omitempty"` // e.g. "integrity"

	BTF BTF `json:"btf"`

	SecurityFS SecurityFS `json:"securityfs"`
	// LSMs are the active LSMs from /sys/kernel/security/lsm, in order.
	LSMs []string `json:"lsms"`

	BPFLSM   Feature  `json:"bpfLsm"`
	AppArmor AppArmor `json:"apparmor"`
	SELinux  Feature  `json:"selinux"`

	Cgroup  Cgroup    `json:"cgroup"`
	BPFFS   Mount     `json:"bpffs"`
	Runtime []Runtime `json:"runtimes"`
}

// BTF is the kernel's own type information.
type BTF struct {
	Present bool   `json:"present"`
	Path    string `json:"path"`
}

// SecurityFS says how the LSM list was read.
type SecurityFS struct {
	Path string `json:"path"`
	// MountedAtStart is whether securityfs was mounted before the probe.
	MountedAtStart bool `json:"mountedAtStart"`
	// MountedByProbe is whether the probe mounted it.
	MountedByProbe bool   `json:"mountedByProbe"`
	Error          string `json:"error,omitempty"`
}

// Feature is a yes/no capability with the reason for a no.
type Feature struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	// Errno is the symbolic errno (EPERM, ...) of a refused load.
	Errno string `json:"errno,omitempty"`
}

// AppArmor is the AppArmor status.
type AppArmor struct {
	Feature
	Enabled bool   `json:"enabled"` // active in the kernel
	Parser  string `json:"parser,omitempty"`
}

// Cgroup is the cgroup layout.
type Cgroup struct {
	Layout  string `json:"layout"` // v1, v2, hybrid or none
	V2Mount string `json:"v2Mount,omitempty"`
	V1Mount string `json:"v1Mount,omitempty"`
}

// Mount is a file system that should be mounted.
type Mount struct {
	Path    string `json:"path"`
	Mounted bool   `json:"mounted"`
}

// Runtime is a container runtime whose socket exists.
type Runtime struct {
	Name   string `json:"name"`
	Socket string `json:"socket"`
}

// Options configure Run. The zero value probes the real host with the
// default paths and mounts securityfs when needed.
type Options struct {
	// BPFFsPath is where bpffs is expected; empty means /sys/fs/bpf.
	BPFFsPath string
	// NoMount forbids mounting securityfs.
	NoMount bool
}

// Well-known paths.
const (
	securityFSPath = "/sys/kernel/security"
	btfPath        = "/sys/kernel/btf/vmlinux"
	mountInfoPath  = "/proc/self/mountinfo"
)

// nriSockets are NRI's sockets, reported beside the runtimes'.
var nriSockets = []string{"/var/run/nri/nri.sock", "/run/nri/nri.sock"}

var (
	hostOnce   sync.Once
	hostReport *Report
)

// Host probes the running host once per process and returns the cached
// report. Callers must not modify it.
func Host() *Report {
	hostOnce.Do(func() { hostReport = Run(Options{}) })
	return hostReport
}

// Run probes the host now.
func Run(opts Options) *Report {
	r := &Report{Kernel: kernelRelease()}
	if fi, err := os.Stat(btfPath); err == nil && fi.Mode().IsRegular() {
		r.BTF = BTF{Present: true, Path: btfPath}
	} else {
		r.BTF = BTF{Path: btfPath}
	}
	mounts := readMounts()
	r.SecurityFS = securityFS(mounts, opts.NoMount)
	r.LSMs = readLSMs()
	if b, err := os.ReadFile(filepath.Join(securityFSPath, "lockdown")); err == nil {
		r.Lockdown = bracketed(string(b))
	}
	r.BPFLSM = probeBPFLSM(r.LSMs)
	r.AppArmor = probeAppArmor(r.LSMs)
	r.SELinux = probeSELinux(r.LSMs)
	r.Cgroup = cgroupLayout(mounts)
	bpffs := opts.BPFFsPath
	if bpffs == "" {
		bpffs = "/sys/fs/bpf"
	}
	r.BPFFS = Mount{Path: bpffs, Mounted: slices.ContainsFunc(mounts, func(m mountinfo.Mount) bool {
		return m.FSType == "bpf" && m.Point == filepath.Clean(bpffs)
	})}
	r.Runtime = runtimes()
	return r
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// bracketed returns the [selected] word of a sysfs choice list.
func bracketed(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return strings.TrimSpace(s)
}

// readMounts lists this process's mounts; none when they cannot be read.
func readMounts() []mountinfo.Mount {
	ms, _ := mountinfo.Read(mountInfoPath)
	return ms
}

func securityFS(mounts []mountinfo.Mount, noMount bool) SecurityFS {
	s := SecurityFS{Path: securityFSPath}
	s.MountedAtStart = slices.ContainsFunc(mounts, func(m mountinfo.Mount) bool {
		return m.FSType == "securityfs" && m.Point == securityFSPath
	})
	if s.MountedAtStart {
		return s
	}
	if noMount {
		s.Error = "not mounted (mounting disabled)"
		return s
	}
	if err := unix.Mount("securityfs", securityFSPath, "securityfs", 0, ""); err != nil {
		s.Error = fmt.Sprintf("not mounted and mounting it failed: %v", err)
		return s
	}
	s.MountedByProbe = true
	return s
}

func readLSMs() []string {
	b, err := os.ReadFile(filepath.Join(securityFSPath, "lsm"))
	if err != nil {
		return nil
	}
	var lsms []string
	for l := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		if l != "" {
			lsms = append(lsms, l)
		}
	}
	return lsms
}

// probeBPFLSM asks cilium/ebpf whether the LSM program type exists, then
// loads a real two-instruction lsm/file_mprotect program (return 0) and
// reports the exact errno when the kernel refuses it.
func probeBPFLSM(lsms []string) Feature {
	if err := features.HaveProgramType(ebpf.LSM); errors.Is(err, ebpf.ErrNotSupported) {
		return Feature{Reason: "kernel has no BPF_PROG_TYPE_LSM (needs 5.7 and CONFIG_BPF_LSM)", Errno: errnoName(err)}
	}
	// The feature probe may report success or a non-EINVAL error; the load
	// below is what decides.
	spec := &ebpf.ProgramSpec{
		Name:       "bulwark_probe",
		Type:       ebpf.LSM,
		AttachType: ebpf.AttachLSMMac,
		AttachTo:   "file_mprotect",
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Return(),
		},
	}
	prog, err := ebpf.NewProgramWithOptions(spec, ebpf.ProgramOptions{LogDisabled: true})
	if err != nil {
		return Feature{Reason: fmt.Sprintf("loading a minimal lsm/file_mprotect program failed: %v", err), Errno: errnoName(err)}
	}
	prog.Close()
	if !slices.Contains(lsms, "bpf") {
		if lsms == nil {
			return Feature{Reason: "an lsm/ program loads but the active LSM list is unknown (securityfs unreadable)"}
		}
		return Feature{Reason: fmt.Sprintf("an lsm/ program loads but bpf is not an active LSM (%s); boot with lsm=...,bpf",
			strings.Join(lsms, ","))}
	}
	return Feature{Available: true}
}

// errnoName returns the symbolic name of the errno in err's chain.
func errnoName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(errno))
	}
	return ""
}

func probeAppArmor(lsms []string) AppArmor {
	a := AppArmor{}
	if p, err := exec.LookPath("apparmor_parser"); err == nil {
		a.Parser = p
	} else if fi, err := os.Stat("/sbin/apparmor_parser"); err == nil && !fi.IsDir() {
		a.Parser = "/sbin/apparmor_parser"
	}
	enabledParam, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	_, dirErr := os.Stat(filepath.Join(securityFSPath, "apparmor"))
	a.Enabled = slices.Contains(lsms, "apparmor") || (dirErr == nil && strings.TrimSpace(string(enabledParam)) == "Y")
	switch {
	case !a.Enabled && enabledParam == nil:
		a.Reason = "AppArmor is not built into this kernel"
	case !a.Enabled:
		a.Reason = "AppArmor is not an active LSM"
	case dirErr != nil:
		a.Reason = "AppArmor is active but " + filepath.Join(securityFSPath, "apparmor") + " is missing"
	case a.Parser == "":
		a.Reason = "AppArmor is active but apparmor_parser is not installed"
	default:
		a.Available = true
	}
	return a
}

func probeSELinux(lsms []string) Feature {
	if !slices.Contains(lsms, "selinux") {
		return Feature{Reason: "SELinux is not an active LSM"}
	}
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err != nil {
		return Feature{Reason: "SELinux is active but selinuxfs is not mounted"}
	}
	return Feature{Available: true}
}

func cgroupLayout(mounts []mountinfo.Mount) Cgroup {
	var c Cgroup
	var v1 bool
	for _, m := range mounts {
		switch m.FSType {
		case "cgroup2":
			if c.V2Mount == "" || m.Point == "/sys/fs/cgroup" {
				c.V2Mount = m.Point
			}
		case "cgroup":
			v1 = true
			if c.V1Mount == "" {
				c.V1Mount = filepath.Dir(m.Point)
			}
		}
	}
	switch {
	case c.V2Mount != "" && v1:
		c.Layout = "hybrid"
	case c.V2Mount != "":
		c.Layout = "v2"
	case v1:
		c.Layout = "v1"
	default:
		c.Layout = "none"
	}
	return c
}

func runtimes() []Runtime {
	found := []Runtime{}
	add := func(name, socket string) {
		if fi, err := os.Stat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			found = append(found, Runtime{Name: name, Socket: socket})
		}
	}
	for _, e := range identity.WellKnownEndpoints {
		add(string(e.Runtime), e.Address)
	}
	for _, s := range nriSockets {
		add("nri", s)
	}
	return found
}
