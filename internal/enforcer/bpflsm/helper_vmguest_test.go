//go:build vmguest

package bpflsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

const helperEnv = "BULWARK_BPFLSM_HELPER"

func errnoOf(err error) int {
	var en syscall.Errno
	if errors.As(err, &en) {
		return int(en)
	}
	if err != nil {
		return -1
	}
	return 0
}

// helperMain is the test binary run as a helper process inside a test
// cgroup. Mode "serve" performs operations read from stdin, one per line,
// and answers each with its errno; other modes do one thing and exit with
// the errno as status.
func helperMain(mode string) int {
	switch mode {
	case "serve":
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			f := strings.Fields(in.Text())
			fmt.Printf("%d\n", helperOp(f))
		}
		return 0
	default:
		return helperOp(strings.Fields(mode))
	}
}

func helperOp(f []string) int {
	if len(f) < 1 {
		return -1
	}
	switch f[0] {
	case "noise": // repeat the operation f[1:] until stdin is closed
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, os.Stdin)
			close(done)
		}()
		for {
			select {
			case <-done:
				return 0
			default:
				helperOp(f[1:])
			}
		}
	case "open", "write":
		flags := syscall.O_RDONLY
		if f[0] == "write" {
			flags = syscall.O_WRONLY
		}
		fd, err := syscall.Open(f[1], flags|syscall.O_CLOEXEC, 0)
		if err == nil {
			syscall.Close(fd)
		}
		return errnoOf(err)
	case "exec":
		pid, err := syscall.ForkExec(f[1], []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			return errnoOf(err)
		}
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
		return 0
	case "socket":
		typ := map[string]int{"tcp": syscall.SOCK_STREAM, "udp": syscall.SOCK_DGRAM, "raw": syscall.SOCK_RAW}[f[1]]
		proto := 0
		if typ == syscall.SOCK_RAW {
			proto = syscall.IPPROTO_ICMP
		}
		fd, err := syscall.Socket(syscall.AF_INET, typ, proto)
		if err == nil {
			syscall.Close(fd)
		}
		return errnoOf(err)
	case "unlink":
		return errnoOf(syscall.Unlink(f[1]))
	case "mkdir":
		return errnoOf(syscall.Mkdir(f[1], 0o755))
	case "rename":
		return errnoOf(syscall.Rename(f[1], f[2]))
	case "chown":
		return errnoOf(syscall.Chown(f[1], 1000, 1000))
	case "link":
		return errnoOf(syscall.Link(f[1], f[2]))
	case "symlink":
		return errnoOf(syscall.Symlink(f[1], f[2]))
	case "mknod": // mknod PATH fifo|reg|chr (chr: 1:3, as /dev/null)
		mode := map[string]uint32{"fifo": syscall.S_IFIFO, "reg": syscall.S_IFREG, "chr": syscall.S_IFCHR}[f[2]]
		dev := 0
		if mode == syscall.S_IFCHR {
			dev = 1<<8 | 3
		}
		return errnoOf(syscall.Mknod(f[1], mode|0o644, dev))
	case "bind": // an AF_UNIX socket file at f[1]
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer syscall.Close(fd)
		return errnoOf(syscall.Bind(fd, &syscall.SockaddrUnix{Name: f[1]}))
	}
	return -1
}
