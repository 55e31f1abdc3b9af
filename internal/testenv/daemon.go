package testenv

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a daemon process a test runs: started with its output appended
// to a log file, polled until it answers, stopped with SIGTERM and killed
// after a grace period. It can be stopped and started again any number of
// times, with the same command line and log.
type daemon struct {
	t testing.TB
	// name is the command run (looked up in PATH at each start) and the
	// daemon's name in messages; address is where it answers, for messages.
	name, address string
	args          []string
	logFile       string
	// answers reports whether the daemon serves its API; start polls it
	// for up to startTimeout.
	answers      func() bool
	startTimeout time.Duration
	// stopGrace is how long Stop waits after SIGTERM before it kills.
	stopGrace time.Duration

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// start launches the daemon and waits until it answers; it fails the test
// with the daemon's log when the daemon exits or does not answer in time.
func (d *daemon) start() {
	d.t.Helper()
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.name, d.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a signal to the test does not reach the daemon
	// before the cleanup has run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start %s: %v", d.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()

	deadline := time.Now().Add(d.startTimeout)
	for !d.answers() {
		select {
		case <-exited:
			d.t.Fatalf("%s exited at start:\n%s", d.name, d.log())
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%s did not answer on %s:\n%s", d.name, d.address, d.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop terminates the daemon: SIGTERM, then SIGKILL after stopGrace. It
// does nothing when the daemon is stopped already.
func (d *daemon) stop() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(d.stopGrace):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// restart stops the daemon and starts it again.
func (d *daemon) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// started reports whether the daemon was started and not stopped since
// (it may have exited on its own).
func (d *daemon) started() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// running reports whether the daemon was started and has not exited.
func (d *daemon) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// log returns the daemon's log, of every start.
func (d *daemon) log() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}
