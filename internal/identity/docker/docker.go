// Package docker is the identity Source for the Docker Engine: it lists
// running containers and follows the /events stream over the daemon's unix
// socket with plain net/http (no Docker client library), reconnecting with
// backoff. Labels io.kubernetes.pod.* (dockershim) or
// kubearmor.io/namespace place a container, as in KubeArmor.
package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bulwark-security/bulwark/internal/identity"
)

// Options configure a Source.
type Options struct {
	// Address is the Docker socket (required), e.g. /var/run/docker.sock.
	Address string
	// Backoff bounds the wait before reconnecting.
	Backoff identity.Backoff
	// Logger receives connection problems; nil discards them.
	Logger *slog.Logger
}

// Source follows one Docker daemon.
type Source struct {
	opts Options
	log  *slog.Logger
	http *http.Client
}

// New returns a Source for opts.
func New(opts Options) *Source {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", opts.Address)
	}
	return &Source{
		opts: opts,
		log:  identity.DiscardLogger(opts.Logger),
		http: &http.Client{Transport: &http.Transport{DialContext: dial, DisableCompression: true}},
	}
}

// Name implements identity.Source.
func (s *Source) Name() string { return "docker:" + s.opts.Address }

// Run implements identity.Source.
func (s *Source) Run(ctx context.Context, sink identity.Sink) error {
	return s.opts.Backoff.Reconnect(ctx, s.log, s.Name(), s.opts.Address, func(ctx context.Context) error { return s.session(ctx, sink) })
}

// The parts of the Engine API used here.
type (
	listEntry struct {
		ID string `json:"Id"`
	}
	inspect struct {
		ID    string `json:"Id"`
		Name  string `json:"Name"`
		Image string `json:"Image"`
		State struct {
			Running   bool   `json:"Running"`
			Pid       uint32 `json:"Pid"`
			StartedAt string `json:"StartedAt"`
		} `json:"State"`
		Config struct {
			Image  string            `json:"Image"`
			Labels map[string]string `json:"Labels"`
		} `json:"Config"`
	}
	event struct {
		Type   string `json:"Type"`
		Action string `json:"Action"`
		Actor  struct {
			ID string `json:"ID"`
		} `json:"Actor"`
		TimeNano int64 `json:"timeNano"`
	}
)

// session follows events, lists, and applies events until an error.
func (s *Source) session(ctx context.Context, sink identity.Sink) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	filters := url.QueryEscape(`{"type":["container"]}`)
	resp, err := s.get(sctx, "/events?filters="+filters)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Subscribed first, so nothing between listing and following is lost.
	if err := s.list(ctx, sink); err != nil {
		return err
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("event stream closed")
			}
			return err
		}
		if ev.Type != "container" || ev.Actor.ID == "" {
			continue
		}
		if err := s.handle(ctx, sink, ev); err != nil {
			s.log.Debug("docker event", "action", ev.Action, "container", ev.Actor.ID, "error", err)
		}
	}
}

func (s *Source) handle(ctx context.Context, sink identity.Sink, ev event) error {
	at := time.Unix(0, ev.TimeNano)
	switch action, _, _ := strings.Cut(ev.Action, ":"); action {
	case "start", "restart", "unpause", "rename", "update":
		c, err := s.inspect(ctx, ev.Actor.ID)
		if err != nil {
			return err
		}
		if c != nil {
			sink.Upsert(c)
		}
	case "die", "destroy":
		sink.Remove("", ev.Actor.ID, at)
	}
	return nil
}

func (s *Source) list(ctx context.Context, sink identity.Sink) error {
	var entries []listEntry
	if err := s.getJSON(ctx, "/containers/json", &entries); err != nil {
		return err
	}
	var running []*identity.Container
	for _, e := range entries {
		c, err := s.inspect(ctx, e.ID)
		if err != nil {
			var se statusError
			if errors.As(err, &se) && se == http.StatusNotFound {
				continue // gone since listed
			}
			return err
		}
		if c != nil {
			running = append(running, c)
		}
	}
	sink.Sync(running)
	return nil
}

// inspect returns container id's record, or nil if it is not running.
func (s *Source) inspect(ctx context.Context, id string) (*identity.Container, error) {
	var in inspect
	if err := s.getJSON(ctx, "/containers/"+url.PathEscape(id)+"/json", &in); err != nil {
		return nil, err
	}
	if !in.State.Running || in.State.Pid == 0 {
		return nil, nil
	}
	c := &identity.Container{
		Runtime:     identity.RuntimeDocker,
		Endpoint:    s.opts.Address,
		ID:          in.ID,
		Name:        strings.TrimPrefix(in.Name, "/"),
		Image:       in.Config.Image,
		ImageDigest: in.Image,
		Labels:      in.Config.Labels,
		PID:         in.State.Pid,
	}
	if t, err := time.Parse(time.RFC3339Nano, in.State.StartedAt); err == nil {
		c.StartedAt = t
	}
	c.FillFromLabels()
	return c, nil
}

// statusError is an unexpected HTTP status.
type statusError int

func (e statusError) Error() string { return fmt.Sprintf("docker api: status %d", int(e)) }

func (s *Source) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, statusError(resp.StatusCode)
	}
	return resp, nil
}

func (s *Source) getJSON(ctx context.Context, path string, v any) error {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := s.get(rctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("docker api %s: %w", path, err)
	}
	return nil
}
