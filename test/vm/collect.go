package vm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// collect reads the records of one VM from the file results, writes each job's
// output and artifacts under dir, and tells whether the agent reported Done.
func collect(results, dir string) (*Result, bool, error) {
	f, err := os.Open(results)
	if os.IsNotExist(err) {
		return &Result{Dir: dir}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("results: %w", err)
	}
	defer f.Close()
	res, done, err := decodeRecords(bufio.NewReader(f), dir)
	if err != nil {
		return nil, false, fmt.Errorf("results %s: %w", results, err)
	}
	for _, j := range res.Jobs {
		if err := os.MkdirAll(filepath.Join(dir, j.Name), 0o755); err != nil {
			return nil, false, fmt.Errorf("results: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, j.Name, "output.txt"), j.Output, 0o644); err != nil {
			return nil, false, fmt.Errorf("results: %w", err)
		}
	}
	return res, done, nil
}

// decodeRecords decodes a record stream. Artifacts are written to
// dir/<job>/artifacts. A stream cut short (a killed VM) ends without error,
// with the job that was running last reported with Exit -1.
func decodeRecords(r *bufio.Reader, dir string) (*Result, bool, error) {
	res := &Result{Dir: dir}
	outputs := map[string]*bytes.Buffer{}
	running := "" // the job with output but no exit yet
	cutShort := func() (*Result, bool, error) {
		if running != "" {
			res.Jobs = append(res.Jobs, JobResult{Name: running, Exit: -1,
				Error: "did not end: the VM stopped", Output: outputs[running].Bytes()})
		}
		return res, false, nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return cutShort()
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var rec lab.Record
		if jerr := json.Unmarshal(line, &rec); jerr != nil {
			if err != nil { // the last line, cut short
				return cutShort()
			}
			return nil, false, fmt.Errorf("decode %q: %w", line, jerr)
		}
		switch {
		case rec.Ready:
			res.Boot = time.Duration(rec.UptimeMS) * time.Millisecond
		case rec.Done:
			return res, true, nil
		case rec.Exit != nil:
			running = ""
			out := outputs[rec.Job]
			jr := JobResult{Name: rec.Job, Exit: *rec.Exit, Error: rec.Error}
			if out != nil {
				jr.Output = out.Bytes()
			}
			if _, err := os.Stat(filepath.Join(dir, rec.Job, "artifacts")); err == nil {
				jr.Artifacts = filepath.Join(dir, rec.Job, "artifacts")
			}
			res.Jobs = append(res.Jobs, jr)
		case rec.File != "":
			if err := writeArtifact(dir, rec); err != nil {
				return nil, false, err
			}
		case rec.Job != "":
			running = rec.Job
			if outputs[rec.Job] == nil {
				outputs[rec.Job] = &bytes.Buffer{}
			}
			outputs[rec.Job].WriteString(rec.Output)
		}
	}
}

// writeArtifact writes one artifact record under dir/<job>/artifacts.
func writeArtifact(dir string, rec lab.Record) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	defer root.Close()
	p := filepath.Join(rec.Job, "artifacts", rec.File)
	if rec.Error != "" {
		p += ".error"
		rec.Data = []byte(rec.Error + "\n")
	}
	if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	if err := root.WriteFile(p, rec.Data, 0o644); err != nil {
		return fmt.Errorf("artifact: %w", err)
	}
	return nil
}
