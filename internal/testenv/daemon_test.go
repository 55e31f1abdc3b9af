package testenv

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatal ends the calling goroutine and
// keeps the message, so a test can check how a helper fails.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) { r.msg = fmt.Sprint(args...); runtime.Goexit() }

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatalOf runs f with a fatalRecorder and returns its Fatal message ("" if
// f returned).
func fatalOf(t *testing.T, f func(tb testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.msg
}

func shDaemon(t testing.TB, dir, script string, answers func() bool) *daemon {
	return &daemon{
		t: t, name: "sh", address: "nowhere", args: []string{"-c", script},
		logFile: filepath.Join(dir, "sh.log"), answers: answers,
		startTimeout: time.Second, stopGrace: 200 * time.Millisecond,
	}
}

func TestDaemonLifecycle(t *testing.T) {
	dir := t.TempDir()
	t.Run("start waits until the daemon answers; stop terminates it; the log keeps every start", func(t *testing.T) {
		var d *daemon
		// It answers once it has logged "up" since its last stop.
		d = shDaemon(t, dir, `echo up; trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done`, func() bool { return strings.HasSuffix(d.log(), "up\n") })
		d.start()
		if !d.started() || !d.running() {
			t.Fatalf("after start: started %v running %v", d.started(), d.running())
		}
		d.stop()
		if d.started() || d.running() {
			t.Fatal("running after stop")
		}
		d.stop() // stopped already: nothing to do
		d.restart()
		d.restart()
		d.stop()
		if got := d.log(); got != strings.Repeat("up\nbye\n", 3) {
			t.Errorf("log of 3 starts:\n%s", got)
		}
	})
	t.Run("a daemon that ignores SIGTERM is killed after the grace period", func(t *testing.T) {
		var d *daemon
		d = shDaemon(t, t.TempDir(), `trap '' TERM; echo up; while :; do sleep 0.05; done`, func() bool { return strings.HasSuffix(d.log(), "up\n") })
		d.start()
		start := time.Now()
		d.stop()
		if took := time.Since(start); took < d.stopGrace {
			t.Errorf("stopped after %v, before the grace period", took)
		}
		if d.running() {
			t.Error("running after stop")
		}
	})
	t.Run("a daemon that exits at start fails the test with its log", func(t *testing.T) {
		msg := fatalOf(t, func(tb testing.TB) {
			shDaemon(tb, t.TempDir(), `echo broken config; exit 1`, func() bool { return false }).start()
		})
		if !strings.Contains(msg, "sh exited at start:\nbroken config") {
			t.Errorf("fatal %q", msg)
		}
	})
	t.Run("a daemon that does not answer in time fails the test with its log", func(t *testing.T) {
		var d *daemon
		msg := fatalOf(t, func(tb testing.TB) {
			d = shDaemon(tb, t.TempDir(), `echo starting; while :; do sleep 0.05; done`, func() bool { return false })
			d.start()
		})
		d.stop()
		if !strings.Contains(msg, "sh did not answer on nowhere:\nstarting") {
			t.Errorf("fatal %q", msg)
		}
	})
	t.Run("running is false once the daemon exits on its own, started stays true", func(t *testing.T) {
		d := shDaemon(t, t.TempDir(), `sleep 0.2`, func() bool { return true })
		d.start()
		deadline := time.Now().Add(5 * time.Second)
		for d.running() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if d.running() || !d.started() {
			t.Errorf("running %v started %v after the daemon exited", d.running(), d.started())
		}
		d.stop()
	})
}
