package monitor

import (
	"syscall"
	"unsafe"
)

const clockBoottime = 7

func clockGettime(clock int, ts *syscall.Timespec) error {
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(ts)), 0)
	if e != 0 {
		return e
	}
	return nil
}
