package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"syscall"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// shell runs an interactive shell with the console as its controlling terminal.
func shell(log *slog.Logger) error {
	tty, err := os.OpenFile(lab.ConsolePort, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer tty.Close()
	fmt.Fprintln(tty, "bulwark kernel lab: root shell; exit (or Ctrl-D) powers off, Ctrl-A X quits qemu")
	cmd := exec.Command("/bin/sh", "-l")
	cmd.Dir = "/root"
	cmd.Env = slices.Concat(lab.Env, []string{"TERM=vt100", "PS1=lab# "})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		log.Info("shell ended", "err", err)
	}
	return nil
}
