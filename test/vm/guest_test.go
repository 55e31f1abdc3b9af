package vm

import (
	"os"
	"testing"
	"time"
)

// guestTestTimeout bounds each guest test binary (its -test.timeout).
const guestTestTimeout = 10 * time.Minute

// TestGuest is the kernel lab: it compiles every package's guest tests (files
// tagged vmguest), runs them all in one VM and reports each guest test as a
// subtest TestGuest/<package>/<test>. $BULWARK_VM_RUN, if set, is passed to
// the guest test binaries as -test.run, $BULWARK_VM_COUNT as -test.count
// (to hunt a flaky guest test).
func TestGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a VM: run make test-vm")
	}
	ctx := t.Context()
	start := time.Now()
	opts := Options{}
	if d, ok := t.Deadline(); ok {
		// Kill a hung VM before go test's own timeout, to report its console.
		opts.Timeout = min(20*time.Minute, time.Until(d)-time.Minute)
	}
	l, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pkgs, err := l.GuestPackages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("no package has guest tests (files tagged " + GuestTag + ")")
	}
	var extra []string
	if run := os.Getenv("BULWARK_VM_RUN"); run != "" {
		extra = append(extra, "-test.run="+run)
	}
	if n := os.Getenv("BULWARK_VM_COUNT"); n != "" {
		extra = append(extra, "-test.count="+n)
	}
	jobs, err := l.TestJobs(ctx, pkgs, guestTestTimeout, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("set-up (commands, image, %d guest test binaries) took %s", len(jobs), time.Since(start).Round(time.Millisecond))
	res, runErr := l.Run(ctx, jobs)
	if res == nil {
		t.Fatal(runErr)
	}
	t.Logf("guest image %d bytes, guest ready after %s, VM ran %s; logs and artifacts in %s",
		res.InitrdBytes, res.Boot, res.Wall.Round(time.Millisecond), res.Dir)
	results := map[string]JobResult{}
	for _, jr := range res.Jobs {
		results[jr.Name] = jr
	}
	for _, p := range pkgs {
		t.Run(p.Rel, func(t *testing.T) {
			jr, ok := results[JobName(p.Rel)]
			if !ok {
				t.Fatal("not run: the VM stopped before")
			}
			events, err := Test2JSON(ctx, p.ImportPath, jr.Output)
			if err != nil {
				t.Fatal(err)
			}
			Replay(t, events, jr)
		})
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
}
