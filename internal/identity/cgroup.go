package identity

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/internal/mountinfo"
)

// ErrNoCgroupV2 means the process is not in a cgroup v2 hierarchy (a host
// with cgroup v1 only), so it has no cgroup v2 id.
var ErrNoCgroupV2 = errors.New("no cgroup v2 membership")

// Host reads what the runtimes do not say about a container from procfs and
// the cgroup v2 file system: cgroup path and id, namespace inodes, start
// time. The zero value reads /proc and the detected cgroup v2 mount.
type Host struct {
	// Proc is the procfs mount; empty means /proc.
	Proc string
	// CgroupRoot is the cgroup v2 mount; empty means the one found in
	// Proc/self/mountinfo (/sys/fs/cgroup on a pure v2 host,
	// /sys/fs/cgroup/unified on a hybrid one).
	CgroupRoot string

	once    sync.Once
	root    string
	rootErr error
}

func (h *Host) proc() string {
	if h.Proc == "" {
		return "/proc"
	}
	return h.Proc
}

// Root returns the cgroup v2 mount point.
func (h *Host) Root() (string, error) {
	h.once.Do(func() {
		if h.CgroupRoot != "" {
			h.root = h.CgroupRoot
			return
		}
		h.root, h.rootErr = DetectCgroupRoot(filepath.Join(h.proc(), "self", "mountinfo"))
	})
	return h.root, h.rootErr
}

// DetectCgroupRoot returns the cgroup2 mount point listed in a mountinfo
// file, preferring /sys/fs/cgroup, then /sys/fs/cgroup/unified.
func DetectCgroupRoot(path string) (string, error) {
	mounts, err := mountinfo.Read(path)
	if err != nil {
		return "", fmt.Errorf("detect cgroup v2 mount: %w", err)
	}
	var found []string
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			found = append(found, m.Point)
		}
	}
	for _, want := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		for _, m := range found {
			if m == want {
				return m, nil
			}
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return "", fmt.Errorf("detect cgroup v2 mount: %w", ErrNoCgroupV2)
}

// CgroupPathOfPID returns the cgroup v2 path of pid ("/k8s.io/abc"),
// relative to the cgroup v2 root.
func (h *Host) CgroupPathOfPID(pid uint32) (string, error) {
	data, err := os.ReadFile(filepath.Join(h.proc(), strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", err
	}
	return ParseProcCgroup(data)
}

// ParseProcCgroup returns the cgroup v2 path in the contents of a
// /proc/PID/cgroup file (the "0::" line).
func ParseProcCgroup(data []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", ErrNoCgroupV2
}

// CgroupID returns the id (inode) of the cgroup at path, relative to the
// cgroup v2 root.
func (h *Host) CgroupID(cgroupPath string) (uint64, error) {
	root, err := h.Root()
	if err != nil {
		return 0, err
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, cgroupPath), &st); err != nil {
		return 0, fmt.Errorf("stat cgroup %s: %w", cgroupPath, err)
	}
	return st.Ino, nil
}

// CgroupOfPID returns the cgroup v2 path and id of pid.
func (h *Host) CgroupOfPID(pid uint32) (string, uint64, error) {
	p, err := h.CgroupPathOfPID(pid)
	if err != nil {
		return "", 0, err
	}
	id, err := h.CgroupID(p)
	return p, id, err
}

// fileidKernfs is the file handle type of kernfs (cgroupfs) inodes; the
// handle is the 64-bit cgroup id.
const fileidKernfs = 0xfe

// CgroupPath returns the path, relative to the cgroup v2 root, of the
// cgroup with the given id, by opening it by file handle (needs
// CAP_DAC_READ_SEARCH). It fails once the cgroup is removed.
func (h *Host) CgroupPath(id uint64) (string, error) {
	root, err := h.Root()
	if err != nil {
		return "", err
	}
	mfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open cgroup root: %w", err)
	}
	defer unix.Close(mfd)
	var handle [8]byte
	binary.NativeEndian.PutUint64(handle[:], id)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(fileidKernfs, handle[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return "", fmt.Errorf("open cgroup %d: %w", id, err)
	}
	defer unix.Close(fd)
	full, err := os.Readlink(filepath.Join(h.proc(), "self", "fd", strconv.Itoa(fd)))
	if err != nil {
		return "", err
	}
	rel, ok := strings.CutPrefix(full, root)
	if !ok {
		return "", fmt.Errorf("cgroup %d: %s is outside %s", id, full, root)
	}
	if rel == "" {
		rel = "/"
	}
	return rel, nil
}

// Namespaces returns the inodes of pid's PID and mount namespaces.
func (h *Host) Namespaces(pid uint32) (pidNS, mntNS uint64, err error) {
	dir := filepath.Join(h.proc(), strconv.FormatUint(uint64(pid), 10), "ns")
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "pid"), &st); err != nil {
		return 0, 0, err
	}
	pidNS = st.Ino
	if err := unix.Stat(filepath.Join(dir, "mnt"), &st); err != nil {
		return 0, 0, err
	}
	return pidNS, st.Ino, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on every
// Linux architecture Bulwark supports).
const clockTicks = 100

// StartTime returns when pid started.
func (h *Host) StartTime(pid uint32) (time.Time, error) {
	stat, err := os.ReadFile(filepath.Join(h.proc(), strconv.FormatUint(uint64(pid), 10), "stat"))
	if err != nil {
		return time.Time{}, err
	}
	// The command may contain spaces and parentheses: fields restart after
	// the last ')'; starttime is field 22 overall, the 20th after it.
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 20 {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	boot, err := h.bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), nil
}

func (h *Host) bootTime() (time.Time, error) {
	data, err := os.ReadFile(filepath.Join(h.proc(), "stat"))
	if err != nil {
		return time.Time{}, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse btime: %w", err)
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}

// Fill sets c's cgroup path and id, namespace inodes and (when unset)
// start time from its init process c.PID.
func (h *Host) Fill(c *Container) error {
	p, id, err := h.CgroupOfPID(c.PID)
	if err != nil {
		return fmt.Errorf("container %s: %w", c.ID, err)
	}
	c.CgroupPath, c.CgroupID = p, id
	if c.PidNS, c.MntNS, err = h.Namespaces(c.PID); err != nil {
		return fmt.Errorf("container %s: namespaces: %w", c.ID, err)
	}
	if c.StartedAt.IsZero() {
		if t, err := h.StartTime(c.PID); err == nil {
			c.StartedAt = t
		}
	}
	return nil
}

// scopePrefixes are the systemd-driver scope names of container cgroups:
// <prefix><id>.scope.
var scopePrefixes = []string{"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"}

// ContainerIDFromCgroupPath derives a container id from a cgroup path in
// the layouts runtimes use: a 64-hex-digit last element (cgroupfs driver:
// /docker/<id>, /k8s.io/<id>, /kubepods/.../<id>) or a systemd scope
// (docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope, ...).
func ContainerIDFromCgroupPath(p string) (string, bool) {
	base := path.Base(p)
	if name, ok := strings.CutSuffix(base, ".scope"); ok {
		for _, pre := range scopePrefixes {
			if id, ok := strings.CutPrefix(name, pre); ok && id != "" && !strings.HasPrefix(id, "conmon-") {
				return id, true
			}
		}
		return "", false
	}
	if isHexID(base) {
		return base, true
	}
	return "", false
}

func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
