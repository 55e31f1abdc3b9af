package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/bulwark-security/bulwark/internal/certs"
)

// certRenewInterval is how often the self-generated TLS material is
// checked; certs.Ensure renews a certificate 30 days before it expires, and
// the gRPC server picks the new files up on its own.
const certRenewInterval = 12 * time.Hour

// certRenewer keeps tlsCertProvider self's files current while bulwarkd
// runs (a Component).
type certRenewer struct {
	dir   string
	names []string
	log   *slog.Logger
}

func (r *certRenewer) ensure() error {
	res, err := certs.Ensure(r.dir, certs.Options{Names: r.names})
	if err != nil {
		return err
	}
	if len(res.Generated) > 0 {
		r.log.Info("TLS material generated", "tlsCertPath", r.dir, "files", res.Generated)
	}
	return nil
}

// Start checks the files every certRenewInterval until ctx is done. A
// failure is logged; the files in place keep serving until they expire.
func (r *certRenewer) Start(ctx context.Context) error {
	t := time.NewTicker(certRenewInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.ensure(); err != nil {
				r.log.Error("TLS material not renewed", "tlsCertPath", r.dir, "error", err)
			}
		}
	}
}
