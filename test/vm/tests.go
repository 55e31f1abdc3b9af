package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/test/vm/internal/lab"
)

// GuestTag is the build tag of guest test files.
const GuestTag = "vmguest"

// GuestPackage is a package with guest tests.
type GuestPackage struct {
	ImportPath string
	Name       string // the package name
	// Rel is the import path relative to the module, e.g. "test/vm/selftest".
	Rel string
	// Dir is the package's directory.
	Dir string
}

// GuestPackages finds the module's packages with guest tests: those whose test
// files differ with and without the GuestTag build tag. No registration needed.
func (l *Lab) GuestPackages(ctx context.Context) ([]GuestPackage, error) {
	const format = "{{.ImportPath}}\t{{.Name}}\t{{.Module.Path}}\t{{.Dir}}\t{{join .TestGoFiles \",\"}}{{join .XTestGoFiles \",\"}}"
	tagged, err := l.goOutput(ctx, "list", "-e", "-tags", GuestTag, "-f", format, "./...")
	if err != nil {
		return nil, err
	}
	untagged, err := l.goOutput(ctx, "list", "-e", "-f", format, "./...")
	if err != nil {
		return nil, err
	}
	return diffTestFiles(tagged, untagged), nil
}

// diffTestFiles returns the packages of the go list output tagged whose test
// files differ from those in untagged, sorted.
func diffTestFiles(tagged, untagged []byte) []GuestPackage {
	plain := map[string]string{}
	for line := range strings.Lines(string(untagged)) {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) == 5 {
			plain[f[0]] = f[4]
		}
	}
	var pkgs []GuestPackage
	for line := range strings.Lines(string(tagged)) {
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) == 5 && f[4] != plain[f[0]] {
			pkgs = append(pkgs, GuestPackage{ImportPath: f[0], Name: f[1], Rel: strings.TrimPrefix(f[0], f[2]+"/"), Dir: f[3]})
		}
	}
	slices.SortFunc(pkgs, func(a, b GuestPackage) int { return strings.Compare(a.Rel, b.Rel) })
	return pkgs
}

// TestJobs compiles the guest tests of pkgs (go test -c -tags vmguest, static)
// and returns one job per package that runs them verbosely
// (-test.v=test2json) with -test.timeout timeout and artifacts on
// (t.ArtifactDir comes back with the job). extra is appended to each command.
// A package's testdata directory is copied along.
func (l *Lab) TestJobs(ctx context.Context, pkgs []GuestPackage, timeout time.Duration, extra ...string) ([]Job, error) {
	dir := filepath.Join(l.tmp, "tests")
	args := []string{"test", "-c", "-tags", GuestTag, "-trimpath", "-ldflags=-s -w", "-o", dir + "/"}
	for _, p := range pkgs {
		args = append(args, p.ImportPath)
	}
	if err := l.goCmd(ctx, args...); err != nil {
		return nil, err
	}
	var jobs []Job
	for _, p := range pkgs {
		name := JobName(p.Rel)
		jobDir := lab.JobsDir + "/" + name
		bin := filepath.Join(dir, p.Name+".test")
		guestBin := jobDir + "/" + name + ".test"
		files, err := testdataFiles(p.Dir, jobDir)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, Job{
			Name: name,
			Command: append([]string{guestBin, "-test.v=test2json", "-test.count=1",
				"-test.timeout=" + timeout.String(), "-test.artifacts",
				"-test.outputdir=" + lab.OutDir + "/" + name}, extra...),
			Files:   append(files, File{Host: bin, Guest: guestBin}),
			Timeout: timeout + time.Minute, // Go's own timeout first: it prints the stacks
		})
	}
	return jobs, nil
}

// JobName turns a module-relative package path into a job name.
func JobName(rel string) string { return strings.ReplaceAll(rel, "/", "_") }

// testdataFiles lists the files under pkgDir/testdata for the guest directory jobDir.
func testdataFiles(pkgDir, jobDir string) ([]File, error) {
	var files []File
	root := filepath.Join(pkgDir, "testdata")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) && p == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(pkgDir, p)
		if err != nil {
			return err
		}
		files = append(files, File{Host: p, Guest: jobDir + "/" + filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("testdata of %s: %w", pkgDir, err)
	}
	return files, nil
}
