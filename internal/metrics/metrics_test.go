package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/pipeline"
)

func TestServerExposesPipelineMetrics(t *testing.T) {
	reg := NewRegistry()
	p, err := pipeline.New(pipeline.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", reg)
	ctx, cancel := context.WithCancel(t.Context())
	perr, serr := make(chan error, 1), make(chan error, 1)
	go func() { perr <- p.Start(ctx) }()
	go func() { serr <- srv.Start(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-serr:
		t.Fatal(err)
	}
	sub, err := p.Subscribe(pipeline.KindAlert, "all")
	if err != nil {
		t.Fatal(err)
	}
	p.PublishAlert(&feeder.Alert{PolicyName: "block-shadow", Action: "Block", Operation: "File", Type: "MatchedPolicy"})
	p.PublishLog(&feeder.Log{Operation: "Process", Type: "ContainerLog"})
	<-sub.Events()

	base := "http://" + srv.Addr().String()
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(body, `bulwark_logs_total{operation="Process"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed the log:\n%s", body)
		}
		body = get(t, base+Path)
	}
	for _, want := range []string{
		`bulwark_alerts_total{action="Block",operation="File",policy="block-shadow"} 1`,
		`bulwark_pipeline_dropped_total{kind="alert",reason="queue_full"} 0`,
		`bulwark_pipeline_queue_capacity{queue="input"} 8192`,
		`bulwark_pipeline_subscribers{kind="alert"} 1`,
		`go_goroutines`,
		`process_cpu_seconds_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := get(t, base+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}
	cancel()
	if err := <-serr; err != nil {
		t.Errorf("Start: %v", err)
	}
	if err := <-perr; err != nil {
		t.Errorf("pipeline: %v", err)
	}
}

func TestServerDefaultsAndErrors(t *testing.T) {
	if s := NewServer("", NewRegistry()); s.addr != DefaultAddress {
		t.Errorf("default address = %s", s.addr)
	}
	if err := NewServer("256.0.0.1:1", NewRegistry()).Start(t.Context()); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}
