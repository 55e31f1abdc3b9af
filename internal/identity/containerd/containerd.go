// Package containerd is the identity Source for containerd: it lists the
// containers of every namespace (k8s.io for CRI, moby for Docker, default,
// ...), follows the events API and reconnects with backoff when the
// socket goes away. CRI pod sandboxes (pause containers) are skipped;
// a CRI container gets its pod's labels from its sandbox.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/bulwark-security/bulwark/internal/identity"
)

// Options configure a Source.
type Options struct {
	// Address is the containerd socket (required).
	Address string
	// Namespaces limits the watched namespaces; empty means all.
	Namespaces []string
	// SkipNamespaces are never watched, e.g. "moby" when Docker is
	// watched directly (Docker names its containers, containerd does not).
	SkipNamespaces []string
	// Backoff bounds the wait before reconnecting.
	Backoff identity.Backoff
	// Resync is how often the containers are listed again, to repair any
	// event missed between listing and subscribing; zero means 1 min.
	Resync time.Duration
	// Logger receives connection problems; nil discards them.
	Logger *slog.Logger
}

// Source follows one containerd.
type Source struct {
	opts Options
	log  *slog.Logger
}

// New returns a Source for opts.
func New(opts Options) *Source {
	if opts.Resync <= 0 {
		opts.Resync = time.Minute
	}
	return &Source{opts: opts, log: identity.DiscardLogger(opts.Logger)}
}

// Name implements identity.Source.
func (s *Source) Name() string { return "containerd:" + s.opts.Address }

// Run implements identity.Source.
func (s *Source) Run(ctx context.Context, sink identity.Sink) error {
	return s.opts.Backoff.Reconnect(ctx, s.log, s.Name(), s.opts.Address, func(ctx context.Context) error { return s.session(ctx, sink) })
}

// session connects, subscribes, lists and follows events until an error.
func (s *Source) session(ctx context.Context, sink identity.Sink) error {
	cl, err := client.New(s.opts.Address, client.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = cl.Version(vctx)
	cancel()
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	envs, errs := cl.EventService().Subscribe(sctx, `topic~="^/tasks/"`, `topic~="^/containers/"`)
	if err := s.list(ctx, cl, sink); err != nil {
		return err
	}
	resync := time.NewTicker(s.opts.Resync)
	defer resync.Stop()
	for {
		select {
		case env := <-envs:
			if err := s.handle(ctx, cl, sink, env); err != nil {
				s.log.Debug("containerd event", "topic", env.Topic, "namespace", env.Namespace, "error", err)
			}
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case <-resync.C:
			if err := s.list(ctx, cl, sink); err != nil {
				return err
			}
		}
	}
}

func (s *Source) watched(ns string) bool {
	if slices.Contains(s.opts.SkipNamespaces, ns) {
		return false
	}
	return len(s.opts.Namespaces) == 0 || slices.Contains(s.opts.Namespaces, ns)
}

// list reports the running containers of every watched namespace.
func (s *Source) list(ctx context.Context, cl *client.Client, sink identity.Sink) error {
	nss, err := cl.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	var running []*identity.Container
	for _, ns := range nss {
		if !s.watched(ns) {
			continue
		}
		nctx := namespaces.WithNamespace(ctx, ns)
		resp, err := cl.TaskService().List(nctx, &tasks.ListTasksRequest{})
		if err != nil {
			return fmt.Errorf("list tasks in %s: %w", ns, err)
		}
		r := resolver{cl: cl, ns: ns, ctx: nctx, addr: s.opts.Address}
		for _, t := range resp.Tasks {
			if !isRunning(t.Status) {
				continue
			}
			// containerd 1.6 leaves ContainerID empty: a task's ID is
			// its container's.
			id := t.ContainerID
			if id == "" {
				id = t.ID
			}
			c, err := r.container(id, t.Pid)
			if err != nil {
				if !errdefs.IsNotFound(err) {
					return err
				}
				continue
			}
			if c != nil {
				running = append(running, c)
			}
		}
	}
	sink.Sync(running)
	return nil
}

func isRunning(st task.Status) bool {
	return st == task.Status_RUNNING || st == task.Status_PAUSED || st == task.Status_PAUSING
}

// handle applies one event.
func (s *Source) handle(ctx context.Context, cl *client.Client, sink identity.Sink, env *events.Envelope) error {
	if env == nil || !s.watched(env.Namespace) {
		return nil
	}
	ev, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return err
	}
	r := resolver{cl: cl, ns: env.Namespace, ctx: namespaces.WithNamespace(ctx, env.Namespace), addr: s.opts.Address}
	switch e := ev.(type) {
	case *apievents.TaskStart:
		return r.upsert(sink, e.ContainerID, e.Pid)
	case *apievents.TaskExit:
		if e.ID == e.ContainerID { // the init process, not an exec
			sink.Remove(env.Namespace, e.ContainerID, exitTime(e.ExitedAt.AsTime(), env.Timestamp))
		}
	case *apievents.TaskDelete:
		sink.Remove(env.Namespace, e.ContainerID, exitTime(e.ExitedAt.AsTime(), env.Timestamp))
	case *apievents.ContainerCreate, *apievents.ContainerUpdate:
		id := containerID(e)
		resp, err := cl.TaskService().Get(r.ctx, &tasks.GetRequest{ContainerID: id})
		if err != nil {
			if errdefs.IsNotFound(err) {
				return nil // no task yet: /tasks/start will report it
			}
			return err
		}
		if isRunning(resp.Process.Status) {
			return r.upsert(sink, id, resp.Process.Pid)
		}
	case *apievents.ContainerDelete:
		sink.Remove(env.Namespace, e.ID, env.Timestamp)
	}
	return nil
}

func containerID(ev any) string {
	switch e := ev.(type) {
	case *apievents.ContainerCreate:
		return e.ID
	case *apievents.ContainerUpdate:
		return e.ID
	}
	return ""
}

func exitTime(at, fallback time.Time) time.Time {
	if at.IsZero() || at.Unix() <= 0 {
		return fallback
	}
	return at
}

// resolver builds Container records in one namespace.
type resolver struct {
	cl   *client.Client
	ns   string
	ctx  context.Context
	addr string
}

func (r resolver) upsert(sink identity.Sink, id string, pid uint32) error {
	c, err := r.container(id, pid)
	if err != nil || c == nil {
		return err
	}
	sink.Upsert(c)
	return nil
}

// container returns the record of container id whose init is pid, or nil
// for a pod sandbox.
func (r resolver) container(id string, pid uint32) (*identity.Container, error) {
	info, err := r.cl.ContainerService().Get(r.ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get container %s/%s: %w", r.ns, id, err)
	}
	if info.Labels[identity.LabelCRIKind] == "sandbox" {
		return nil, nil
	}
	c := &identity.Container{
		Runtime:          identity.RuntimeContainerd,
		Endpoint:         r.addr,
		RuntimeNamespace: r.ns,
		ID:               id,
		Image:            info.Image,
		Labels:           info.Labels,
		PID:              pid,
	}
	if info.Image != "" {
		if img, err := r.cl.ImageService().Get(r.ctx, info.Image); err == nil {
			c.ImageDigest = img.Target.Digest.String()
		}
	}
	c.FillFromLabels()
	if uid := info.Labels[identity.LabelPodUID]; c.Kubernetes() && uid != "" {
		c.PodLabels = r.podLabels(uid)
	}
	return c, nil
}

// podLabels returns the labels of the pod whose uid is given, from its
// sandbox container (the CRI plugin labels it with the pod's labels).
func (r resolver) podLabels(uid string) map[string]string {
	filter := "labels." + strconv.Quote(identity.LabelCRIKind) + `=="sandbox",labels.` +
		strconv.Quote(identity.LabelPodUID) + "==" + strconv.Quote(uid)
	sandboxes, err := r.cl.ContainerService().List(r.ctx, filter)
	if err != nil || len(sandboxes) == 0 {
		return nil
	}
	newest := slices.MaxFunc(sandboxes, func(a, b containers.Container) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return identity.PodLabelsFrom(newest.Labels)
}
