package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"
)

// tlsRecheck is how often, at most, the TLS files are checked for change.
var tlsRecheck = 10 * time.Second

// tlsFiles serves the key pair and client CA of Options from their files
// and reads them again when one changes, so that renewed or rotated
// certificates apply to new connections without a restart. Files that fail
// to load leave the last good material in use (logged).
type tlsFiles struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	checked time.Time
	stamps  []fileStamp
	cfg     *tls.Config
}

// fileStamp tells a changed file: rotation replaces or rewrites it.
type fileStamp struct {
	mod, size int64
	ino       uint64
}

func newTLSFiles(o Options, log *slog.Logger) (*tlsFiles, error) {
	m := &tlsFiles{o: o, log: log}
	stamps := m.stat()
	cfg, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cfg, m.stamps, m.checked = cfg, stamps, time.Now()
	return m, nil
}

// credentials are gRPC transport credentials whose every handshake gets
// the current material.
func (m *tlsFiles) credentials() credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: m.config})
}

func (m *tlsFiles) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.checked) < tlsRecheck {
		return m.cfg, nil
	}
	m.checked = time.Now()
	stamps := m.stat()
	if slices.Equal(stamps, m.stamps) {
		return m.cfg, nil
	}
	cfg, err := m.load()
	if err != nil {
		// A rotation half done (key written, certificate not yet) also
		// lands here; the next check picks up the finished one.
		m.log.Warn("TLS files changed but do not load; serving the previous certificates", "error", err)
		return m.cfg, nil
	}
	m.cfg, m.stamps = cfg, stamps
	m.log.Info("TLS certificates reloaded", "cert", m.o.CertFile, "clientCA", m.o.ClientCAFile)
	return cfg, nil
}

func (m *tlsFiles) files() []string {
	return []string{m.o.CertFile, m.o.KeyFile, m.o.ClientCAFile}
}

func (m *tlsFiles) stat() []fileStamp {
	var out []fileStamp
	for _, f := range m.files() {
		var st fileStamp
		if fi, err := os.Stat(f); err == nil && f != "" {
			st = fileStamp{mod: fi.ModTime().UnixNano(), size: fi.Size()}
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				st.ino = sys.Ino
			}
		}
		out = append(out, st)
	}
	return out
}

// load reads the files into a per-connection configuration.
func (m *tlsFiles) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(m.o.CertFile, m.o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load key pair: %w", err)
	}
	// NextProtos: gRPC clients require ALPN h2; credentials.NewTLS sets it
	// on the outer configuration only.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}}
	if m.o.ClientCAFile != "" {
		pem, err := os.ReadFile(m.o.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client CA %s: no PEM certificates", m.o.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
