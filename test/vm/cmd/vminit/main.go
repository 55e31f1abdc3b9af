// Command vminit is PID 1 of the kernel lab's guest (see package vm): it mounts the
// file systems of lab.Mounts, reads lab.ManifestPath, runs the jobs there or a shell
// on the console, streams lab.Record lines to the host on lab.ResultsPort and powers
// the VM off. It is built static and put into the guest image as /init.
package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("vminit failed", "err", err)
	}
	unix.Sync()
	// The host runs qemu with -no-reboot, so either call ends the VM.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
}

func run(log *slog.Logger) error {
	if err := mountAll(); err != nil {
		return err
	}
	if err := exec.Command("/bin/ip", "link", "set", "lo", "up").Run(); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	m, err := readManifest()
	if err != nil {
		return err
	}
	switch m.Mode {
	case lab.ModeShell:
		return shell(log)
	case lab.ModeJobs:
		out, err := openResults()
		if err != nil {
			return err
		}
		defer out.Close()
		return runJobs(log, out, m.Jobs)
	default:
		return fmt.Errorf("manifest: unknown mode %q", m.Mode)
	}
}

func mountAll() error {
	for _, m := range lab.Mounts {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
		if err := unix.Mount(m.Source, m.Target, m.FSType, 0, ""); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err)
		}
	}
	return os.Chmod("/tmp", 0o1777)
}

func readManifest() (*lab.Manifest, error) {
	b, err := os.ReadFile(lab.ManifestPath)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m lab.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", lab.ManifestPath, err)
	}
	return &m, nil
}

// openResults opens the results port in raw mode, so bytes pass unchanged.
func openResults() (*os.File, error) {
	f, err := os.OpenFile(lab.ResultsPort, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("results port: %w", err)
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("results port termios: %w", err)
	}
	t.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("results port termios: %w", err)
	}
	return f, nil
}

// uptimeMS reads the guest's uptime in milliseconds, or 0.
func uptimeMS() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	s, _, _ := strings.Cut(string(b), " ")
	sec, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return int64(sec * 1000)
}
