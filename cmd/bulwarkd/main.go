// Command bulwarkd is Bulwark's node agent. See internal/agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bulwark-security/bulwark/internal/agent"
)

func main() {
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
