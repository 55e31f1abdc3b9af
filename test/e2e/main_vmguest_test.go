//go:build vmguest

package e2e

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

// helperEnv makes the test binary (or a copy of it) a helper: it does one
// operation and exits with its errno (0: success).
const helperEnv = "BULWARK_E2E_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperOp(strings.Fields(mode)))
	}
	guest.Main(m)
}

func errnoOf(err error) int {
	var en syscall.Errno
	if errors.As(err, &en) {
		return int(en)
	}
	if err != nil {
		return 255
	}
	return 0
}

// helperOp performs one operation: exit (nothing), exec PATH, open PATH,
// write PATH, chown PATH, udp (an AF_INET datagram socket) or rdm (an
// AF_INET SOCK_RDM socket).
func helperOp(f []string) int {
	arg := func() string {
		if len(f) < 2 {
			return ""
		}
		return f[1]
	}
	switch f[0] {
	case "exit":
		return 0
	case "exec":
		pid, err := syscall.ForkExec(arg(), []string{"target"}, &syscall.ProcAttr{Env: []string{helperEnv + "=exit"}})
		if err != nil {
			return errnoOf(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			return errnoOf(err)
		}
		return ws.ExitStatus()
	case "open", "write":
		flags := syscall.O_RDONLY
		if f[0] == "write" {
			flags = syscall.O_WRONLY
		}
		fd, err := syscall.Open(arg(), flags|syscall.O_CLOEXEC, 0)
		if err == nil {
			syscall.Close(fd)
		}
		return errnoOf(err)
	case "chown":
		return errnoOf(syscall.Chown(arg(), guest.TestUID, guest.TestGID))
	case "udp", "rdm":
		typ, proto := syscall.SOCK_DGRAM, syscall.IPPROTO_UDP
		if f[0] == "rdm" {
			typ, proto = syscall.SOCK_RDM, 0
		}
		fd, err := syscall.Socket(syscall.AF_INET, typ, proto)
		if err == nil {
			syscall.Close(fd)
		}
		return errnoOf(err)
	}
	os.Stderr.WriteString("e2e helper: unknown operation " + strconv.Quote(strings.Join(f, " ")) + "\n")
	return 254
}
