package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the shared policy corpus, checked out beside the repository.
const corpusDir = "../../../shared/corpus"

func loadCorpus(tb testing.TB, opts Options) *Result {
	tb.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		tb.Fatalf("policy corpus missing: %v", err)
	}
	res, err := LoadPaths([]string{corpusDir}, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// flawFiles counts the files with a diagnostic whose message contains one
// of substrs, and returns one example.
func flawFiles(res *Result, sev Severity, substrs ...string) (int, Diagnostic) {
	files := make(map[string]bool)
	var example Diagnostic
	for _, d := range res.Diagnostics {
		for _, s := range substrs {
			if d.Severity == sev && strings.Contains(d.Message, s) {
				if !files[d.File] {
					example = d
				}
				files[d.File] = true
			}
		}
	}
	return len(files), example
}

func TestCorpus(t *testing.T) {
	strict := loadCorpus(t, Options{})
	if strict.Files != 592 {
		t.Errorf("files = %d, want 592", strict.Files)
	}
	flaws := []struct {
		name   string
		sev    Severity
		substr []string
		files  int
	}{
		{"tabs", SeverityWarning, []string{"tab character"}, 9},
		{"duplicate keys", SeverityError, []string{"duplicate key"}, 12},
		{"unknown fields", SeverityError, []string{"unknown field"}, 16},
		{"host policies without nodeSelector", SeverityError, []string{`"nodeSelector" is missing`}, 26},
		{"CRD schema (required, pattern, enum, type)", SeverityError, []string{"is missing", "does not match", "is not one of", "must be"}, 27},
		{"unmatchable patterns", SeverityWarning, []string{"contains blanks", "is relative"}, 27},
		{"no action anywhere", SeverityWarning, []string{"no action at rule"}, 2},
		{"action spelling Kubernetes rejects", SeverityWarning, []string{"but the Kubernetes CRD only accepts"}, 1},
	}
	for _, f := range flaws {
		n, ex := flawFiles(strict, f.sev, f.substr...)
		if n != f.files {
			t.Errorf("%s: %d files, want %d", f.name, n, f.files)
		}
		if n > 0 && (ex.File == "" || ex.Line == 0) {
			t.Errorf("%s: diagnostic without position: %v", f.name, ex)
		}
		t.Logf("%s: %d files, e.g. %v", f.name, n, ex)
	}

	bad := make(map[string]bool)
	for _, d := range strict.Diagnostics {
		if d.Severity == SeverityError {
			bad[d.File] = true
		}
	}
	templatesValid := 0
	for _, p := range strict.Policies {
		if strings.Contains(p.Location.File, "policy-templates") {
			templatesValid++
		}
	}
	if got, want := len(bad), 53; got != want {
		t.Errorf("files with errors = %d, want %d", got, want)
	}
	if got, want := len(strict.Policies), 539; got != want {
		t.Errorf("valid policies = %d, want %d", got, want)
	}
	t.Logf("strict: %d files, %d valid policies (%d from policy-templates), %d files with errors, %d errors, %d warnings",
		strict.Files, len(strict.Policies), templatesValid, len(bad), strict.Errors(), strict.Warnings())

	lenient := loadCorpus(t, Options{Lenient: true})
	for _, d := range lenient.Diagnostics {
		if d.Severity != SeverityError {
			continue
		}
		// In lenient mode only what a Kubernetes API server rejects is an error.
		if !strings.Contains(d.Message, "is missing") {
			t.Errorf("lenient error Kubernetes would accept: %v", d)
		}
	}
	if got, want := len(lenient.Policies), 565; got != want {
		t.Errorf("lenient valid policies = %d, want %d", got, want)
	}
	t.Logf("lenient: %d valid policies, %d errors, %d warnings", len(lenient.Policies), lenient.Errors(), lenient.Warnings())
}

// TestCorpusCleanFilesValid checks that every file without a diagnostic of
// the README's flaw kinds loads into at least one policy.
func TestCorpusCleanFilesValid(t *testing.T) {
	res := loadCorpus(t, Options{})
	loaded := make(map[string]bool)
	for _, p := range res.Policies {
		loaded[p.Location.File] = true
	}
	flawed := make(map[string]bool)
	for _, d := range res.Diagnostics {
		if d.Severity == SeverityError {
			flawed[d.File] = true
		}
	}
	err := filepath.WalkDir(corpusDir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		if !flawed[p] && !loaded[p] {
			t.Errorf("%s: no error reported, but no policy loaded", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLoadCorpus(b *testing.B) {
	for b.Loop() {
		loadCorpus(b, Options{Lenient: true})
	}
}
