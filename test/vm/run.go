package vm

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// ErrTimeout means the VM did not finish within Options.Timeout and was killed.
var ErrTimeout = errors.New("guest timed out")

// ErrIncomplete means the VM ended before its agent reported all jobs done:
// a kernel panic or a failure of the agent (see the console log).
var ErrIncomplete = errors.New("guest ended before all jobs were done")

// Job is one command to run in the guest, as root.
type Job struct {
	// Name is unique within a run, made of letters, digits, '.', '_' and '-'.
	// The job runs in /vm/jobs/<Name>; files it writes under /vm/out/<Name>
	// come back as artifacts.
	Name string
	// Command is the guest command line; Command[0] is an absolute guest path.
	Command []string
	// Files are copied into the guest before boot.
	Files []File
	// Timeout bounds the job in the guest. Default 10 minutes.
	Timeout time.Duration
}

// JobResult is what came back from one job.
type JobResult struct {
	Name string
	// Exit is the exit status; -1 when the job was killed or did not start,
	// with Error saying why.
	Exit  int
	Error string
	// Output is the job's combined stdout and stderr.
	Output []byte
	// Artifacts is the host directory with the files the job wrote under
	// /vm/out/<Name>, or "" when it wrote none.
	Artifacts string
}

// Result is what came back from one VM.
type Result struct {
	// Jobs holds the jobs that ended, in order.
	Jobs []JobResult
	// Dir is the run's host directory: console.log, results.jsonl (the raw
	// records), and per job its output.txt and artifacts.
	Dir string
	// Boot is the guest's uptime when its agent was ready, 0 if it never was.
	Boot time.Duration
	// Wall is the time from qemu's start to its exit.
	Wall time.Duration
	// InitrdBytes is the size of the guest image (base and payload archives).
	InitrdBytes int64
}

// Run boots one VM, runs jobs in order and powers it off. The error is
// ErrTimeout or ErrIncomplete (wrapped, with the end of the console log) when
// the VM did not finish; the Result then holds what came back until then.
func (l *Lab) Run(ctx context.Context, jobs []Job) (*Result, error) {
	dir, err := l.runDir()
	if err != nil {
		return nil, err
	}
	m := lab.Manifest{Mode: lab.ModeJobs}
	var files []File
	for _, j := range jobs {
		m.Jobs = append(m.Jobs, lab.Job{
			Name: j.Name, Args: j.Command, Dir: lab.JobsDir + "/" + j.Name,
			Timeout: cmp.Or(j.Timeout, 10*time.Minute),
		})
		files = append(files, j.Files...)
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	size, err := l.writeInitrd(initrd, m, files)
	if err != nil {
		return nil, err
	}
	defer os.Remove(initrd)

	vmCtx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	start := time.Now()
	runErr := l.boot(vmCtx, dir, initrd)
	wall := time.Since(start)

	res, done, err := collect(filepath.Join(dir, "results.jsonl"), dir)
	if err != nil {
		return nil, err
	}
	res.Wall, res.InitrdBytes = wall, size
	switch {
	case done:
		return res, nil
	case vmCtx.Err() != nil && ctx.Err() == nil:
		err = fmt.Errorf("%w after %s", ErrTimeout, l.opts.Timeout)
	case runErr != nil:
		err = fmt.Errorf("%w: %w", ErrIncomplete, runErr)
	default:
		err = ErrIncomplete
	}
	console := filepath.Join(dir, "console.log")
	return res, fmt.Errorf("%w; console log %s ends:\n%s", err, console, tail(console, 40))
}

// boot runs qemu until the VM ends or ctx is done, with the console in
// dir/console.log and the records in dir/results.jsonl.
func (l *Lab) boot(ctx context.Context, dir, initrd string) error {
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	defer console.Close()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		qemuArgs(l.opts, initrd, filepath.Join(dir, "results.jsonl"), false)...)
	cmd.Stdout = io.MultiWriter(console, orDiscard(l.opts.Console))
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}

// RunScript runs a shell script in a fresh VM and returns its result.
func (l *Lab) RunScript(ctx context.Context, script string) (*JobResult, error) {
	res, err := l.Run(ctx, []Job{{Name: "script", Command: []string{"/bin/sh", "-c", script}}})
	if res != nil && len(res.Jobs) == 1 {
		return &res.Jobs[0], err
	}
	return nil, cmp.Or(err, ErrIncomplete)
}

// Shell boots a VM with an interactive root shell on this process's terminal.
func (l *Lab) Shell(ctx context.Context) error {
	dir, err := l.runDir()
	if err != nil {
		return err
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	if _, err := l.writeInitrd(initrd, lab.Manifest{Mode: lab.ModeShell}, nil); err != nil {
		return err
	}
	defer os.Remove(initrd)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64",
		qemuArgs(l.opts, initrd, filepath.Join(dir, "results.jsonl"), true)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}

// writeInitrd writes the base archive followed by the run's payload (the
// manifest, the project's commands and files) and returns its size.
func (l *Lab) writeInitrd(path string, m lab.Manifest, files []File) (int64, error) {
	payload := NewImage()
	mj, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("manifest: %w", err)
	}
	payload.File(lab.ManifestPath, 0o644, mj)
	for _, j := range m.Jobs {
		payload.Dir(j.Dir, 0o755, 0, 0)
	}
	for _, f := range slices.Concat(l.bins, files) {
		if err := payload.CopyFile(f.Guest, f.Host); err != nil {
			return 0, err
		}
	}
	out, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("initrd: %w", err)
	}
	defer out.Close()
	base, err := os.Open(l.base)
	if err != nil {
		return 0, fmt.Errorf("initrd: %w", err)
	}
	defer base.Close()
	n, err := io.Copy(out, base)
	if err != nil {
		return 0, fmt.Errorf("initrd: %w", err)
	}
	m2, err := payload.WriteTo(out)
	if err != nil {
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, fmt.Errorf("initrd: %w", err)
	}
	return n + m2, nil
}

// runDir makes a fresh directory for one VM's outputs under CacheDir/runs,
// keeping the 10 most recent.
func (l *Lab) runDir() (string, error) {
	runs := filepath.Join(l.opts.CacheDir, "runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return "", fmt.Errorf("run dir: %w", err)
	}
	if err := prune(runs, "*", 9); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(runs, time.Now().UTC().Format("20060102T150405-"))
	if err != nil {
		return "", fmt.Errorf("run dir: %w", err)
	}
	return dir, nil
}

// tail returns the last n lines of a file, carriage returns removed.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(bytes.ReplaceAll(b, []byte("\r"), nil)), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
