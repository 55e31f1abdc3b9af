package agent_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// alertStream collects the alerts of a WatchAlerts subscription.
type alertStream struct {
	mu     sync.Mutex
	alerts []*feeder.Alert
}

func subscribe(t *testing.T, ctx context.Context, socket string) *alertStream {
	t.Helper()
	eventually(t, "gRPC socket", settle, func() bool { _, err := os.Stat(socket); return err == nil })
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := feeder.NewLogServiceClient(conn).WatchAlerts(ctx, &feeder.RequestMessage{Filter: "policy"})
	if err != nil {
		t.Fatal(err)
	}
	st := &alertStream{}
	go func() {
		for {
			a, err := s.Recv()
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("WatchAlerts ended: %v", err)
				}
				return
			}
			st.mu.Lock()
			st.alerts = append(st.alerts, a)
			st.mu.Unlock()
		}
	}()
	return st
}

// byPID returns the alerts of one process.
func (s *alertStream) byPID(pid int) []*feeder.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*feeder.Alert
	for _, a := range s.alerts {
		if int(a.HostPID) == pid {
			out = append(out, a)
		}
	}
	return out
}

// warmUp runs an audited binary until its alert arrives, so the
// subscription is known to be live.
func (s *alertStream) warmUp(t *testing.T, audited string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pid := run(t, audited)
		for range 20 {
			if len(s.byPID(pid)) > 0 {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	t.Fatal("no alert on the subscription within 10s")
}

func (s *alertStream) wait(t *testing.T, what string, pid int) *feeder.Alert {
	t.Helper()
	var got []*feeder.Alert
	eventually(t, what, settle, func() bool { got = s.byPID(pid); return len(got) > 0 })
	return got[0]
}
