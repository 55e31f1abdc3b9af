package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Backoff bounds the waits between reconnections to a runtime.
type Backoff struct {
	// Min and Max bound the wait; zero means 100 ms and 5 s. The wait
	// doubles after each failure and resets after a session that lasted
	// longer than 2×Max.
	Min, Max time.Duration
}

// Reconnect runs session until ctx ends, waiting between attempts as b
// says and logging each lost session under name. It fails at once, as a
// configuration error, when address is empty.
func (b Backoff) Reconnect(ctx context.Context, log *slog.Logger, name, address string, session func(context.Context) error) error {
	if address == "" {
		return fmt.Errorf("%s: no socket address", name)
	}
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = max(5*time.Second, lo)
	}
	wait := lo
	for {
		began := time.Now()
		err := session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > 2*hi {
			wait = lo
		}
		log.Warn("runtime connection lost", "source", name, "error", err, "retry", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, hi)
	}
}

// DiscardLogger returns l, or a logger that discards when l is nil.
func DiscardLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
