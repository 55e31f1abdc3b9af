package agent

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bulwark-security/bulwark/internal/config"
)

const pidFileName = "bulwarkd.pid"

// writePIDFile writes the pid to cfg.PIDFile, or, when that cannot be
// written (read-only /var, missing directory), to /run and then to the
// state directory. It never fails: it returns the path written, or "" when
// there is none.
func writePIDFile(cfg *config.Config, log *slog.Logger) string {
	if cfg.PIDFile == "" {
		return ""
	}
	data := []byte(strconv.Itoa(os.Getpid()) + "\n")
	candidates := []string{cfg.PIDFile, filepath.Join("/run", pidFileName), filepath.Join(cfg.StateDir, pidFileName)}
	for i, p := range candidates {
		if i > 0 && p == candidates[0] {
			continue
		}
		if i == 2 {
			_ = os.MkdirAll(cfg.StateDir, 0o700)
		}
		err := os.WriteFile(p, data, 0o644)
		if err == nil {
			if i > 0 {
				log.Warn("pid file written to a fallback location", "wanted", cfg.PIDFile, "path", p)
			}
			return p
		}
		log.Warn("pid file not writable", "path", p, "error", err)
	}
	log.Warn("running without a pid file")
	return ""
}

// removePIDFile removes path if it still holds this process's pid.
func removePIDFile(path string, log *slog.Logger) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(bytes.TrimSpace(b), []byte(strconv.Itoa(os.Getpid()))) {
		return
	}
	if err := os.Remove(path); err != nil {
		log.Warn("pid file not removed", "path", path, "error", err)
	}
}
