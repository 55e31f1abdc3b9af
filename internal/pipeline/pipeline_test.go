package pipeline

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return strings.Count(string(b), "\n")
}

// subscribeAndRun subscribes to alerts and starts p.
func subscribeAndRun(t *testing.T, p *Pipeline, filter string) (*Subscription, func() error) {
	t.Helper()
	sub, err := p.Subscribe(KindAlert, filter)
	if err != nil {
		t.Fatal(err)
	}
	return sub, run(t, p)
}

func TestOrderIsKeptPerProducer(t *testing.T) {
	const producers, each = 4, 500
	logPath := filepath.Join(t.TempDir(), "events.log")
	p := newPipeline(t, Options{LogPath: logPath, Throttle: throttleOff, QueueSize: producers * each * 2})
	sub, err := p.Subscribe(KindAlert, FilterAll)
	if err != nil {
		t.Fatal(err)
	}
	logs, err := p.Subscribe(KindLog, FilterSystem)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, p)

	var wg sync.WaitGroup
	for id := range producers {
		wg.Go(func() {
			for seq := range each {
				if seq%2 == 0 {
					p.PublishAlert(&feeder.Alert{HostPID: int32(id), PID: int32(seq), Type: "MatchedPolicy"})
				} else {
					p.PublishLog(&feeder.Log{HostPID: int32(id), PID: int32(seq), Type: "ContainerLog"})
				}
			}
		})
	}
	wg.Wait()
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	check := func(where string, ids, seqs []int32) {
		t.Helper()
		last := map[int32]int32{}
		for i := range ids {
			prev, seen := last[ids[i]]
			if seen && seqs[i] <= prev {
				t.Fatalf("%s: producer %d: seq %d after %d", where, ids[i], seqs[i], prev)
			}
			last[ids[i]] = seqs[i]
		}
	}
	var ids, seqs []int32
	for ev := range sub.Events() {
		ids, seqs = append(ids, ev.Alert.HostPID), append(seqs, ev.Alert.PID)
	}
	if len(ids) != producers*each/2 {
		t.Fatalf("subscriber got %d alerts, want %d", len(ids), producers*each/2)
	}
	check("alert subscriber", ids, seqs)
	ids, seqs = nil, nil
	for ev := range logs.Events() {
		ids, seqs = append(ids, ev.Log.HostPID), append(seqs, ev.Log.PID)
	}
	check("log subscriber", ids, seqs)

	ids, seqs = nil, nil
	for _, line := range readLines(t, logPath) {
		var rec struct{ HostPID, PID int32 }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ids, seqs = append(ids, rec.HostPID), append(seqs, rec.PID)
	}
	if len(ids) != producers*each {
		t.Fatalf("file has %d records, want %d", len(ids), producers*each)
	}
	check("file", ids, seqs)
}

func TestJSONLinesUseKubeArmorFieldNames(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "a", "b", "bulwark.log") // directories are created
	p := newPipeline(t, Options{LogPath: logPath, ClusterName: "prod", HostName: "node-1", NodeID: "machine-1"})
	stop := run(t, p)
	a := alert("abc123", "block-shadow", "Block", "File")
	a.Tags = "CIS"
	a.ATags = []string{"CIS", "MITRE"}
	a.EventData = map[string]string{"Syscall": "SYS_OPENAT"}
	a.Owner = &feeder.Podowner{Ref: "Deployment", Name: "web", Namespace: "ns"}
	a.HostName = "explicit-host" // not overwritten
	p.PublishAlert(a)
	p.PublishLog(&feeder.Log{Type: "HostLog", Operation: "Process", Resource: "/usr/bin/ls", Result: "Passed"})
	p.PublishMessage(&feeder.Message{Level: "INFO", Message: "not written to the log file"})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, logPath)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (alert and log):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"Timestamp", "UpdatedTime", "ClusterName", "HostName", "NodeID", "NamespaceName", "PodName",
		"Owner", "ContainerID", "ContainerName", "ProcessName", "PolicyName", "Severity", "Tags", "ATags", "Type", "Source",
		"Operation", "Resource", "EventData", "Enforcer", "Action", "Result"} {
		if _, ok := rec[key]; !ok {
			t.Errorf("alert line lacks %q: %s", key, lines[0])
		}
	}
	if rec["ClusterName"] != "prod" || rec["HostName"] != "explicit-host" || rec["NodeID"] != "machine-1" || rec["Type"] != "MatchedPolicy" {
		t.Errorf("stamping: %s", lines[0])
	}
	var back feeder.Alert
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&back, a) {
		t.Errorf("alert does not round-trip:\n got %v\nwant %v", &back, a)
	}
	rec = nil
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["Type"] != "HostLog" || rec["HostName"] != "node-1" || rec["UpdatedTime"] == "" || rec["Timestamp"] == nil {
		t.Errorf("log line: %s", lines[1])
	}
	if _, ok := rec["PolicyName"]; ok {
		t.Errorf("log line has alert-only fields: %s", lines[1])
	}
}

func TestThrottlingThroughThePipeline(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "bulwark.log")
	reg := prometheus.NewRegistry()
	p := newPipeline(t, Options{LogPath: logPath, Registerer: reg, QueueSize: 100})
	clock := newFakeClock()
	p.now = clock.Now
	sub, stop := subscribeAndRun(t, p, FilterPolicy)
	for range 15 {
		p.PublishAlert(alert("c1", "audit-etc", "Audit", "File"))
	}
	// The first Block of the rule passes (and, as the container's 11th alert
	// in the second, mutes the container); the next one is throttled.
	p.PublishAlert(alert("c1", "audit-etc", "Block", "File"))
	p.PublishAlert(alert("c1", "audit-etc", "Block", "File"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var audits, blocks, notices int
	var scopes []string
	for ev := range sub.Events() {
		switch a := ev.Alert; {
		case a.Operation == OperationAlertThreshold:
			notices++
			scopes = append(scopes, a.PolicyName)
			if a.Type != TypeSystemEvent || a.MaxAlertsPerSec != 10 || a.DroppingAlertsInterval != 30 {
				t.Errorf("notice = %v", a)
			}
		case a.Action == "Block":
			blocks++
		default:
			audits++
		}
	}
	if audits != 10 || blocks != 1 || notices != 2 {
		t.Errorf("delivered %d audits, %d blocks, %d notices; want 10, 1, 2", audits, blocks, notices)
	}
	if len(scopes) == 2 && (scopes[0] != "audit-etc" || scopes[1] != "") {
		t.Errorf("notices: %q, want the rule's then the container's", scopes)
	}
	st := p.Stats()
	if got := st.Dropped[KindAlert][DropThrottled]; got != 6 {
		t.Errorf("throttled = %d, want 6", got)
	}
	if got := st.Delivered[KindAlert]; got != 13 {
		t.Errorf("delivered = %d, want 13", got)
	}
	if n := strings.Count(strings.Join(readLines(t, logPath), "\n"), `"Operation":"AlertThreshold"`); n != 2 {
		t.Errorf("log file has %d AlertThreshold records, want 2", n)
	}
	if got := testutil.ToFloat64(p.met.alerts.WithLabelValues("audit-etc", "Audit", "File")); got != 10 {
		t.Errorf("%s{audit-etc,Audit,File} = %v, want 10", MetricAlerts, got)
	}
	if got := testutil.ToFloat64(p.met.episodes[1]); got != 1 {
		t.Errorf("rule throttle episodes = %v, want 1", got)
	}
}

func TestSlowSubscriberLosesEventsAlone(t *testing.T) {
	const n, queue = 1000, 10
	var logBuf syncBuffer
	reg := prometheus.NewRegistry()
	p := newPipeline(t, Options{Throttle: throttleOff, QueueSize: queue, Logger: testLogger(&logBuf), Registerer: reg})
	fast, err := p.Subscribe(KindAlert, FilterAll)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := p.Subscribe(KindAlert, FilterAll) // never reads
	if err != nil {
		t.Fatal(err)
	}
	run(t, p)
	for i := range n {
		p.PublishAlert(&feeder.Alert{PID: int32(i)})
		ev := <-fast.Events() // the fast subscriber keeps up
		if ev.Alert.PID != int32(i) {
			t.Fatalf("fast subscriber got PID %d, want %d", ev.Alert.PID, i)
		}
	}
	eventually(t, "the last record to reach the slow subscriber", func() bool { return slow.Dropped() == n-queue })
	if fast.Dropped() != 0 {
		t.Errorf("fast subscriber dropped %d", fast.Dropped())
	}
	if slow.Dropped() != n-queue {
		t.Errorf("slow subscriber dropped %d, want %d", slow.Dropped(), n-queue)
	}
	if got := p.Stats().Dropped[KindAlert][DropSubscriberSlow]; got != n-queue {
		t.Errorf("stats: subscriber_slow = %d, want %d", got, n-queue)
	}
	if !strings.Contains(logBuf.String(), "subscriber too slow") {
		t.Errorf("no warning logged:\n%s", logBuf.String())
	}
	expect := `
# HELP bulwark_pipeline_subscribers Current subscribers, by kind.
# TYPE bulwark_pipeline_subscribers gauge
bulwark_pipeline_subscribers{kind="alert"} 2
bulwark_pipeline_subscribers{kind="log"} 0
bulwark_pipeline_subscribers{kind="message"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect), MetricSubscribers); err != nil {
		t.Error(err)
	}
	slow.Close()
	slow.Close()
	if got := p.Subscribers(KindAlert); got != 1 {
		t.Errorf("subscribers after Close = %d, want 1", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range families {
		if f.GetName() != MetricDropped {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == "alert" && labels["reason"] == "subscriber_slow" {
				found = m.GetCounter().GetValue() == n-queue
			}
		}
	}
	if !found {
		t.Errorf("%s{kind=alert,reason=subscriber_slow} != %d", MetricDropped, n-queue)
	}
}

func TestFileSinkReopen(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "bulwark.log")
	p := newPipeline(t, Options{LogPath: logPath, Throttle: throttleOff})
	stop := run(t, p)
	for range 5 {
		p.PublishLog(&feeder.Log{Type: "ContainerLog"})
	}
	eventually(t, "5 lines in the log", func() bool { return countLines(logPath) == 5 })
	rotated := logPath + ".1"
	if err := os.Rename(logPath, rotated); err != nil {
		t.Fatal(err)
	}
	p.Reopen()
	eventually(t, "the log file to be recreated", func() bool { _, err := os.Stat(logPath); return err == nil })
	for range 3 {
		p.PublishLog(&feeder.Log{Type: "HostLog"})
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := countLines(rotated); got != 5 {
		t.Errorf("rotated file has %d lines, want 5", got)
	}
	if got := countLines(logPath); got != 3 {
		t.Errorf("new file has %d lines, want 3", got)
	}
	// Appending, not truncating, on restart.
	p = newPipeline(t, Options{LogPath: logPath})
	stop = run(t, p)
	p.PublishLog(&feeder.Log{Type: "HostLog"})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := countLines(logPath); got != 4 {
		t.Errorf("after restart the file has %d lines, want 4", got)
	}
}

func TestSinkWriteErrorIsCountedNotFatal(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var logBuf syncBuffer
	p := newPipeline(t, Options{LogPath: "/dev/full", Throttle: throttleOff, Logger: testLogger(&logBuf)})
	sub, stop := subscribeAndRun(t, p, FilterAll)
	for range 3 {
		p.PublishAlert(alert("c1", "p", "Audit", "File"))
	}
	p.PublishLog(&feeder.Log{})
	if err := stop(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	var got int
	for range sub.Events() {
		got++
	}
	if got != 3 {
		t.Errorf("subscriber got %d alerts, want 3", got)
	}
	st := p.Stats()
	if st.Dropped[KindAlert][DropSinkError] != 3 || st.Dropped[KindLog][DropSinkError] != 1 {
		t.Errorf("sink errors = %v, want 3 alerts and 1 log", st.Dropped)
	}
	if !strings.Contains(logBuf.String(), "log sink write failed") {
		t.Errorf("no error logged:\n%s", logBuf.String())
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	p := newPipeline(t, Options{InputQueueSize: 4, Throttle: throttleOff})
	for range 10 { // not started: the queue fills, the rest is dropped
		p.PublishAlert(&feeder.Alert{})
	}
	p.PublishAlert(nil)
	if got := p.Stats().Dropped[KindAlert][DropQueueFull]; got != 6 {
		t.Errorf("queue_full = %d, want 6", got)
	}
	stop := run(t, p)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats().Delivered[KindAlert]; got != 4 {
		t.Errorf("delivered = %d, want the 4 queued", got)
	}
	p.PublishMessage(&feeder.Message{})
	if got := p.Stats().Dropped[KindMessage][DropStopped]; got != 1 {
		t.Errorf("stopped = %d, want 1", got)
	}
}

func TestSubscribeAndLifecycle(t *testing.T) {
	p := newPipeline(t, Options{})
	for _, tc := range []struct {
		kind   Kind
		filter string
		ok     bool
	}{
		{KindAlert, "all", true}, {KindAlert, "policy", true}, {KindAlert, "system", false}, {KindAlert, "", false},
		{KindLog, "all", true}, {KindLog, "system", true}, {KindLog, "policy", false},
		{KindMessage, "all", true}, {Kind(7), "all", false},
	} {
		s, err := p.Subscribe(tc.kind, tc.filter)
		if (err == nil) != tc.ok {
			t.Errorf("Subscribe(%v, %q) error = %v, want ok=%v", tc.kind, tc.filter, err, tc.ok)
		}
		if s != nil {
			s.Close()
		}
	}
	msgs, err := p.Subscribe(KindMessage, "all")
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, p)
	p.PublishMessage(&feeder.Message{Level: "INFO", Message: "hello"})
	ev := <-msgs.Events()
	if ev.Kind() != KindMessage || ev.Message.Message != "hello" || ev.Message.UpdatedTime == "" {
		t.Errorf("message = %v", ev.Message)
	}
	if err := p.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-msgs.Events(); ok {
		t.Error("Events not closed after stop")
	}
	if _, err := p.Subscribe(KindAlert, "all"); !errors.Is(err, ErrStopped) {
		t.Errorf("Subscribe after stop: %v, want ErrStopped", err)
	}
}

func TestOptionsAndMetricsRegistration(t *testing.T) {
	if _, err := New(Options{QueueSize: -1}); err == nil {
		t.Error("negative queue size accepted")
	}
	if _, err := New(Options{Throttle: ThrottleOptions{MaxAlertsPerSec: -1}}); err == nil {
		t.Error("negative max alerts accepted")
	}
	reg := prometheus.NewRegistry()
	newPipeline(t, Options{Registerer: reg})
	if _, err := New(Options{Registerer: reg}); err == nil {
		t.Error("registering the same metrics twice succeeded")
	}
	if _, err := New(Options{LogPath: filepath.Join(t.TempDir(), "x")}); err != nil {
		t.Errorf("file sink: %v", err)
	}
	p := newPipeline(t, Options{LogPath: "/proc/definitely/not/here.log"})
	if err := p.Start(t.Context()); err == nil {
		t.Error("Start with an unopenable log file succeeded")
	}
}

func TestSetThrottleLive(t *testing.T) {
	p := newPipeline(t, Options{QueueSize: 100})
	sub, stop := subscribeAndRun(t, p, FilterPolicy)
	burst := func() {
		for range 15 {
			p.PublishAlert(alert("c1", "audit-etc", "Audit", "File"))
		}
	}
	burst() // default: 10 per second, then muted
	if err := p.SetThrottle(throttleOff); err != nil {
		t.Fatal(err)
	}
	burst() // all 15
	if err := p.SetThrottle(ThrottleOptions{MaxAlertsPerSec: 3}); err != nil {
		t.Fatal(err)
	}
	burst() // fresh budgets: 3, then muted
	if err := p.SetThrottle(ThrottleOptions{MaxAlertsPerSec: -1}); err == nil {
		t.Error("SetThrottle accepted a negative rate")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var audits, notices int
	for ev := range sub.Events() {
		if ev.Alert.Operation == OperationAlertThreshold {
			notices++
		} else {
			audits++
		}
	}
	// One notice per throttled burst: the rule's (its muted alerts do not
	// count against the container).
	if audits != 10+15+3 || notices != 2 {
		t.Errorf("delivered %d audits and %d notices, want 28 and 2", audits, notices)
	}
}
