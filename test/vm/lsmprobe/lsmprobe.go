// Package lsmprobe is a minimal BPF-LSM program with its loader: the kernel
// lab's proof that BPF-LSM enforcement works in its guest. It denies exec and
// open with EPERM, only to tasks in the cgroups given to ScopeCgroup and only
// for the files given to DenyOpen and DenyExec. Load it only in the lab's VM.
package lsmprobe

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type inode_key -cflags "-O2 -g -Wall -Werror -I../../../bpf/include" lsmprobe bpf/lsmprobe.c

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Flags of the targets map (enum deny_flag in bpf/lsmprobe.c).
const (
	denyOpen uint32 = 1 << 0
	denyExec uint32 = 1 << 1
)

// Hooks, the keys of the denials map (enum hook in bpf/lsmprobe.c).
const (
	hookFileOpen  uint32 = 0
	hookBprmCheck uint32 = 1
)

// Probe is the loaded and attached program.
type Probe struct {
	objs  lsmprobeObjects
	links []link.Link
}

// Load loads the program and attaches it to lsm/file_open and
// lsm/bprm_check_security. It denies nothing until given a cgroup and a file.
func Load() (*Probe, error) {
	p := &Probe{}
	if err := loadLsmprobeObjects(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("load lsmprobe: %w", err)
	}
	for _, prog := range []*ebpf.Program{p.objs.LsmprobeFileOpen, p.objs.LsmprobeBprmCheck} {
		l, err := link.AttachLSM(link.LSMOptions{Program: prog})
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("attach %s: %w", prog, err)
		}
		p.links = append(p.links, l)
	}
	return p, nil
}

// Close detaches and unloads the program.
func (p *Probe) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}

// ScopeCgroup puts the tasks of the cgroup v2 with id cgroupID in scope.
func (p *Probe) ScopeCgroup(cgroupID uint64) error {
	if err := p.objs.ScopedCgroups.Put(cgroupID, uint8(1)); err != nil {
		return fmt.Errorf("scope cgroup %d: %w", cgroupID, err)
	}
	return nil
}

// DenyOpen makes opening the file at path fail in scope.
func (p *Probe) DenyOpen(path string) error { return p.deny(path, denyOpen) }

// DenyExec makes executing the file at path fail in scope.
func (p *Probe) DenyExec(path string) error { return p.deny(path, denyExec) }

func (p *Probe) deny(path string, flag uint32) error {
	key, err := inodeKey(path)
	if err != nil {
		return err
	}
	var flags uint32
	if err := p.objs.Targets.Lookup(key, &flags); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("deny %s: %w", path, err)
	}
	if err := p.objs.Targets.Put(key, flags|flag); err != nil {
		return fmt.Errorf("deny %s: %w", path, err)
	}
	return nil
}

// Denials returns how many opens and execs the program has denied.
func (p *Probe) Denials() (opens, execs uint64, err error) {
	if err := p.objs.Denials.Lookup(hookFileOpen, &opens); err != nil {
		return 0, 0, fmt.Errorf("read denials: %w", err)
	}
	if err := p.objs.Denials.Lookup(hookBprmCheck, &execs); err != nil {
		return 0, 0, fmt.Errorf("read denials: %w", err)
	}
	return opens, execs, nil
}

// inodeKey identifies the file at path as the program sees it: the inode
// number and the device in the kernel's encoding (major<<20 | minor), which
// differs from the one stat returns.
func inodeKey(path string) (lsmprobeInodeKey, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return lsmprobeInodeKey{}, fmt.Errorf("stat %s: %w", path, err)
	}
	dev := unix.Major(st.Dev)<<20 | unix.Minor(st.Dev)
	return lsmprobeInodeKey{Ino: st.Ino, Dev: dev}, nil
}
