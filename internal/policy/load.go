package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadPaths loads every policy in paths: files, directories (searched
// recursively for *.yaml, *.yml and *.json) and "-" for standard input.
// Problems in the policies become Diagnostics; the error is only for
// paths that cannot be read. The lint runs over all loaded policies.
func LoadPaths(paths []string, opts Options) (*Result, error) {
	res := &Result{}
	for _, p := range paths {
		if p == "-" {
			data, err := readLimited(opts.stdin(), opts.maxFileSize())
			if err != nil && !errors.Is(err, errTooLarge) {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			res.merge(loadInput("-", data, err, opts))
			continue
		}
		files, err := Files(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := readFile(f, opts.maxFileSize())
			if err != nil && !errors.Is(err, errTooLarge) {
				return nil, err
			}
			res.merge(loadInput(f, data, err, opts))
		}
	}
	res.Diagnostics = append(res.Diagnostics, Lint(res.Policies, opts)...)
	return res, nil
}

// LoadBytes loads the policies in data, which came from name (used in
// diagnostics), and lints them.
func LoadBytes(name string, data []byte, opts Options) *Result {
	var err error
	if int64(len(data)) > opts.maxFileSize() {
		err = errTooLarge
	}
	res := loadInput(name, data, err, opts)
	res.Diagnostics = append(res.Diagnostics, Lint(res.Policies, opts)...)
	return res
}

var errTooLarge = errors.New("input too large")

// Files lists the policy files a path names: the path itself, or every
// .yaml, .yml and .json file below a directory, in lexical order.
func Files(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if e.Type().IsRegular() {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return files, nil
}

func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer f.Close()
	data, err := readLimited(f, limit)
	if err != nil && !errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return data, err
}

// readLimited reads r up to limit bytes, returning errTooLarge beyond.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// loadInput loads one input without linting; readErr is errTooLarge or nil.
func loadInput(name string, data []byte, readErr error, opts Options) *Result {
	res := &Result{Files: 1}
	if readErr != nil {
		res.Diagnostics = append(res.Diagnostics, Diagnostic{File: name, Severity: SeverityError,
			Message: fmt.Sprintf("input is larger than the limit of %d bytes", opts.maxFileSize())})
		return res
	}
	tabs := scanTabs(data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	b := newBudget(opts)
	for docs := 1; ; docs++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.Diagnostics = append(res.Diagnostics, syntaxError(name, err, tabs))
			return res
		}
		if docs > maxDocuments {
			res.Diagnostics = append(res.Diagnostics, Diagnostic{File: name, Line: root.Line, Column: root.Column,
				Severity: SeverityError, Message: fmt.Sprintf("more than %d YAML documents; the rest are not read", maxDocuments)})
			break
		}
		if len(root.Content) == 0 {
			continue // empty document
		}
		d := newDocument(name, opts, b)
		if d.measure(root.Content[0]) {
			d.object(root.Content[0], "", res)
		}
		res.Diagnostics = append(res.Diagnostics, d.diags...)
		if b.exhausted() {
			break // the rest would exceed the budget too
		}
	}
	if len(tabs.inline) > 0 {
		res.Diagnostics = append(res.Diagnostics, Diagnostic{File: name, Line: tabs.inline[0].line,
			Column: tabs.inline[0].col, Severity: SeverityWarning,
			Message: fmt.Sprintf("tab character on %d line(s) (YAML allows tabs only between tokens; "+
				"many tools reject them, and they break indentation when edited)", len(tabs.inline))})
	}
	return res
}

type position struct{ line, col int }

// tabScan records where tabs occur: in a line's indentation, or elsewhere.
type tabScan struct{ indent, inline []position }

func scanTabs(data []byte) tabScan {
	var s tabScan
	for i, line := range bytes.Split(data, []byte("\n")) {
		col := bytes.IndexByte(line, '\t')
		if col < 0 {
			continue
		}
		p := position{i + 1, col + 1}
		if len(bytes.TrimLeft(line[:col], " -")) == 0 {
			s.indent = append(s.indent, p)
		} else {
			s.inline = append(s.inline, p)
		}
	}
	return s
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// syntaxError turns a YAML parser error into a diagnostic. A tab in the
// indentation at or before the failing line is named as the cause.
func syntaxError(name string, err error, tabs tabScan) Diagnostic {
	diag := Diagnostic{File: name, Severity: SeverityError}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		diag.Line, _ = strconv.Atoi(m[1])
		diag.Column = 1
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, m[0]), ": ")
	}
	for _, t := range tabs.indent {
		if diag.Line == 0 || t.line <= diag.Line {
			diag.Line, diag.Column = t.line, t.col
			diag.Message = "tab character in indentation (YAML allows only spaces)"
			return diag
		}
	}
	diag.Message = "invalid YAML: " + msg
	return diag
}
