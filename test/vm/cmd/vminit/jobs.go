package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// maxArtifact bounds one artifact sent back; the serial port is slow.
const maxArtifact = 8 << 20

// runJobs runs jobs one after another and sends their output, exit status and
// artifacts as records to w, then a Done record.
func runJobs(log *slog.Logger, w io.Writer, jobs []lab.Job) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(lab.Record{Ready: true, UptimeMS: uptimeMS()}); err != nil {
		return fmt.Errorf("send ready: %w", err)
	}
	for _, j := range jobs {
		log.Info("job start", "job", j.Name)
		exit, jobErr := runJob(enc, j)
		if err := sendArtifacts(enc, j.Name); err != nil {
			return err
		}
		rec := lab.Record{Job: j.Name, Exit: &exit}
		if jobErr != nil {
			rec.Error = jobErr.Error()
		}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("send exit of %s: %w", j.Name, err)
		}
		log.Info("job end", "job", j.Name, "exit", exit)
	}
	if err := enc.Encode(lab.Record{Done: true}); err != nil {
		return fmt.Errorf("send done: %w", err)
	}
	return nil
}

// runJob runs j with its output streamed as records, and returns its exit
// status, or -1 and why when it did not start or was killed.
func runJob(enc *json.Encoder, j lab.Job) (int, error) {
	if err := os.MkdirAll(filepath.Join(lab.OutDir, j.Name), 0o755); err != nil {
		return -1, fmt.Errorf("job out dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.Args[0], j.Args[1:]...)
	cmd.Dir = j.Dir
	cmd.Env = lab.Env
	lw := &lineWriter{enc: enc, job: j.Name}
	cmd.Stdout, cmd.Stderr = lw, lw
	// Its own process group, so a timeout kills whatever it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ferr := lw.flush(); ferr != nil && err == nil {
		err = ferr
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("killed after the job timeout of %s", j.Timeout)
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// lineWriter sends what is written to it as one Output record per line.
type lineWriter struct {
	enc *json.Encoder
	job string
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := w.send(w.buf[:i+1]); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
}

// flush sends an unterminated last line.
func (w *lineWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = nil
	return err
}

func (w *lineWriter) send(line []byte) error {
	if err := w.enc.Encode(lab.Record{Job: w.job, Output: string(line)}); err != nil {
		return fmt.Errorf("send output of %s: %w", w.job, err)
	}
	return nil
}

// sendArtifacts sends every regular file under the job's OutDir.
func sendArtifacts(enc *json.Encoder, job string) error {
	root := filepath.Join(lab.OutDir, job)
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rec := lab.Record{Job: job, File: rel}
		if info, err := d.Info(); err != nil {
			return fmt.Errorf("artifact %s: %w", path, err)
		} else if info.Size() > maxArtifact {
			rec.Error = fmt.Sprintf("artifact %s not sent: %d bytes, limit %d", rel, info.Size(), maxArtifact)
		} else if rec.Data, err = os.ReadFile(path); err != nil {
			return fmt.Errorf("artifact %s: %w", path, err)
		}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("send artifact %s: %w", path, err)
		}
		return nil
	})
}
