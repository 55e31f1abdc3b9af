package pipeline

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// cpuTime is the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchAlert() *feeder.Alert {
	a := alert("3f9a1c0d2e4b", "ksp-block-shadow", "Block", "File")
	a.ClusterName, a.HostName, a.NodeID = "default", "node-1", "6a1f0c"
	a.UpdatedTime, a.Timestamp = "2026-01-02T03:04:05.000001Z", 1767323045
	a.Labels = "app=nginx,tier=web"
	a.Data = "lsm=FILE_OPEN"
	a.HostPID, a.PID, a.PPID, a.HostPPID = 4242, 17, 1, 4200
	a.Tags = "CIS,PCI-DSS"
	a.Message = "shadow file access"
	return a
}

// publishPaced publishes b.N alerts, sleeping (instead of dropping) while
// the queues are nearly full, so the benchmark measures throughput.
func publishPaced(b *testing.B, p *Pipeline, a *feeder.Alert) {
	full := func() bool {
		queued := len(p.in)
		if p.sink != nil {
			return queued+len(p.sink.queue) >= cap(p.sink.queue)-1
		}
		return queued >= cap(p.in)-1
	}
	for range b.N {
		for full() {
			time.Sleep(50 * time.Microsecond)
		}
		p.PublishAlert(a)
	}
}

func report(b *testing.B, start time.Time, cpu0 time.Duration) {
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/event")
}

// benchEndToEnd publishes b.N alerts into p, stops it (so the sink has
// flushed) and reports events/s and CPU per event.
func benchEndToEnd(b *testing.B, p *Pipeline) {
	stop := run(b, p)
	a := benchAlert()
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	publishPaced(b, p, a)
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	report(b, start, cpu0)
	b.StopTimer()
}

// BenchmarkPublishToFile: PublishAlert to JSON lines in a file, end to end.
func BenchmarkPublishToFile(b *testing.B) {
	p := newPipeline(b, Options{LogPath: filepath.Join(b.TempDir(), "bench.log"), Throttle: throttleOff})
	benchEndToEnd(b, p)
	if d := p.Stats().Dropped[KindAlert]; len(d) != 0 {
		b.Fatalf("dropped %v", d)
	}
}

// BenchmarkPublishStalledSubscriber: a subscriber that never reads, no
// sink; the pipeline keeps its speed and the subscriber loses all but
// QueueSize records.
func BenchmarkPublishStalledSubscriber(b *testing.B) {
	p := newPipeline(b, Options{Throttle: throttleOff})
	stalled, err := p.Subscribe(KindAlert, FilterAll)
	if err != nil {
		b.Fatal(err)
	}
	benchEndToEnd(b, p)
	want := max(0, b.N-DefaultQueueSize)
	if got := stalled.Dropped(); got != uint64(want) {
		b.Fatalf("stalled subscriber dropped %d, want %d", got, want)
	}
	b.ReportMetric(float64(stalled.Dropped()), "stalled-drops")
}

// BenchmarkPublishCaller is the cost seen by a producer: one PublishAlert
// into a pipeline that keeps up (or drops; never blocks).
func BenchmarkPublishCaller(b *testing.B) {
	p := newPipeline(b, Options{Throttle: throttleOff})
	run(b, p)
	a := benchAlert()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.PublishAlert(a)
		}
	})
}

// BenchmarkThrottle is the throttler's cost per alert for a noisy container.
func BenchmarkThrottle(b *testing.B) {
	th := defaultThrottler()
	a := benchAlert()
	now := newFakeClock().Now()
	b.ReportAllocs()
	for i := range b.N {
		th.allow(a, now.Add(time.Duration(i)*time.Microsecond))
	}
}
