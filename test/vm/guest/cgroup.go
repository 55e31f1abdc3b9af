package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// CgroupRoot is where the guest mounts cgroup v2.
const CgroupRoot = "/sys/fs/cgroup"

// Cgroup is a cgroup v2 made for one test.
type Cgroup struct {
	// Path is the cgroup's directory.
	Path string
	// ID is the cgroup's id, as bpf_get_current_cgroup_id() gives it in BPF
	// programs: the inode number of Path.
	ID uint64
	fd int // Path, open, for CLONE_INTO_CGROUP
}

// NewCgroup makes a cgroup under CgroupRoot for t. When t ends, the processes
// still in it are killed and it is removed.
func NewCgroup(t testing.TB) *Cgroup {
	t.Helper()
	dir, err := os.MkdirTemp(CgroupRoot, "test-")
	if err != nil {
		t.Fatalf("new cgroup: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatalf("new cgroup: %v", err)
	}
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("new cgroup: %v", err)
	}
	cg := &Cgroup{Path: dir, ID: st.Ino, fd: fd}
	t.Cleanup(func() {
		syscall.Close(fd)
		if err := cg.remove(); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	return cg
}

// Command returns a command whose process starts inside the cgroup
// (CLONE_INTO_CGROUP), so that even its exec happens there.
func (c *Cgroup) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	a := attr(cmd)
	a.UseCgroupFD = true
	a.CgroupFD = c.fd
	return cmd
}

// AddProcess moves the process pid into the cgroup.
func (c *Cgroup) AddProcess(pid int) error {
	if err := os.WriteFile(filepath.Join(c.Path, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("add process %d to %s: %w", pid, c.Path, err)
	}
	return nil
}

// Processes lists the processes in the cgroup.
func (c *Cgroup) Processes() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.Path, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("list processes of %s: %w", c.Path, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("list processes of %s: %w", c.Path, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// remove kills what is left in the cgroup (cgroup.kill) and removes it.
func (c *Cgroup) remove() error {
	if err := os.WriteFile(filepath.Join(c.Path, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill %s: %w", c.Path, err)
	}
	// The kill is asynchronous: rmdir fails with EBUSY until the processes are gone.
	var err error
	for range 100 {
		if err = os.Remove(c.Path); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}
