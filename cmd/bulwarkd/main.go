// Command bulwarkd is Bulwark's node agent. See internal/agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/bulwark-security/bulwark/internal/agent"
)

// The agent allocates a little per event and keeps a small heap, so Go's
// default GC target makes it collect every few thousand events; a higher
// target measured 1–2 µs less CPU per telemetry event. The soft memory
// limit keeps the heap bounded all the same. GOGC and GOMEMLIMIT override.
const (
	gcPercent   = 400
	memoryLimit = 1 << 30
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := agent.Main(ctx, agent.MainOptions{
		Args:    os.Args[1:],
		Environ: os.Environ(),
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
	})
	stop()
	os.Exit(code)
}
