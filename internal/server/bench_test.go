package server

import (
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/pipeline"
)

// BenchmarkPublishToGRPCSubscriber: PublishAlert to a WatchAlerts client
// over loopback TCP, end to end. The producer keeps at most window alerts
// in flight so that nothing is dropped; events/s is the delivered rate.
func BenchmarkPublishToGRPCSubscriber(b *testing.B) {
	const window = 512
	e := start(b, Options{Address: "127.0.0.1:0"}, quietPipeline)
	c := feeder.NewLogServiceClient(dial(b, e.target(), nil))
	stream, err := c.WatchAlerts(b.Context(), &feeder.RequestMessage{Filter: "all"})
	if err != nil {
		b.Fatal(err)
	}
	eventually(b, "the subscription", func() bool { return e.p.Subscribers(pipeline.KindAlert) == 1 })
	inFlight := make(chan struct{}, window)
	done := make(chan error, 1)
	go func() {
		for range b.N {
			if _, err := stream.Recv(); err != nil {
				done <- err
				return
			}
			<-inFlight
		}
		done <- nil
	}()
	a := &feeder.Alert{
		Timestamp: 1767323045, UpdatedTime: "2026-01-02T03:04:05.000001Z", ClusterName: "default", HostName: "node-1",
		NamespaceName: "web", PodName: "nginx-1", ContainerID: "3f9a1c0d2e4b", ContainerName: "nginx",
		ProcessName: "/bin/cat", Source: "/bin/cat /etc/shadow", PolicyName: "ksp-block-shadow", Severity: "5",
		Type: "MatchedPolicy", Operation: "File", Resource: "/etc/shadow", Data: "lsm=FILE_OPEN", Action: "Block",
		Enforcer: "BPFLSM", Result: "Permission denied", HostPID: 4242, PID: 17, NodeID: "6a1f0c",
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		inFlight <- struct{}{}
		e.p.PublishAlert(a)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := (ru1.Utime.Nano() + ru1.Stime.Nano()) - (ru0.Utime.Nano() + ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/event")
	if d := e.p.Stats().Dropped[pipeline.KindAlert]; len(d) != 0 {
		b.Fatalf("dropped %v", d)
	}
}
