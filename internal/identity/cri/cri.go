// Package cri is the identity Source for Kubernetes CRI v1 runtimes: CRI-O,
// and containerd through its CRI plugin. It lists the running containers
// over the runtime's unix socket, follows GetContainerEvents, and falls
// back to listing and diffing at an interval when the runtime does not
// implement events (CRI-O before 1.26, containerd before 1.7). The init
// PID comes from the verbose ContainerStatus info, where both runtimes put
// it; the Registry derives the cgroup and namespaces from it.
package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bulwark-security/bulwark/internal/identity"
)

// Options configure a Source.
type Options struct {
	// Address is the CRI socket (required), e.g. /var/run/crio/crio.sock.
	Address string
	// Runtime tags the containers reported; empty means identity.RuntimeCRIO.
	Runtime identity.Runtime
	// Poll lists and diffs at PollInterval even when the runtime streams
	// container events.
	Poll bool
	// PollInterval is how often the containers are listed when polling;
	// zero means 2 s.
	PollInterval time.Duration
	// Resync is how often the containers are listed again while following
	// events, to repair any event missed; zero means 1 min.
	Resync time.Duration
	// Backoff bounds the wait before reconnecting.
	Backoff identity.Backoff
	// Logger receives connection problems; nil discards them.
	Logger *slog.Logger
}

// Source follows one CRI runtime.
type Source struct {
	opts Options
	log  *slog.Logger
}

// New returns a Source for opts.
func New(opts Options) *Source {
	if opts.Runtime == "" {
		opts.Runtime = identity.RuntimeCRIO
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	if opts.Resync <= 0 {
		opts.Resync = time.Minute
	}
	return &Source{opts: opts, log: identity.DiscardLogger(opts.Logger)}
}

// Name implements identity.Source.
func (s *Source) Name() string { return string(s.opts.Runtime) + ":" + s.opts.Address }

// Run implements identity.Source.
func (s *Source) Run(ctx context.Context, sink identity.Sink) error {
	return s.opts.Backoff.Reconnect(ctx, s.log, s.Name(), s.opts.Address, func(ctx context.Context) error { return s.session(ctx, sink) })
}

// maxMsgSize bounds a response: a node's container list outgrows gRPC's
// default 4 MiB (kubelet allows 16 MiB too).
const maxMsgSize = 16 << 20

// callTimeout bounds one unary call.
const callTimeout = 10 * time.Second

// session connects, subscribes to events, lists, then follows events or
// polls until an error.
func (s *Source) session(ctx context.Context, sink identity.Sink) error {
	conn, err := grpc.NewClient("unix://"+s.opts.Address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)))
	if err != nil {
		return err
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	vctx, cancel := context.WithTimeout(ctx, callTimeout)
	v, err := rt.Version(vctx, &runtimeapi.VersionRequest{})
	cancel()
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	s.log.Debug("connected to CRI runtime", "source", s.Name(), "runtime", v.RuntimeName, "version", v.RuntimeVersion)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var events <-chan *runtimeapi.ContainerEventResponse
	var streamErr <-chan error
	if !s.opts.Poll {
		// Subscribed before listing, so that hardly an event in between
		// is lost (the server may register the stream a little late);
		// Resync repairs the rest.
		events, streamErr = subscribe(sctx, rt)
	}
	known, err := s.list(ctx, rt, sink)
	if err != nil {
		return err
	}
	if s.opts.Poll {
		return s.poll(ctx, rt, sink, known)
	}
	resync := time.NewTicker(s.opts.Resync)
	defer resync.Stop()
	for {
		select {
		case ev := <-events:
			if err := s.handle(ctx, rt, sink, ev); err != nil {
				s.log.Debug("CRI event", "source", s.Name(), "type", ev.ContainerEventType, "container", ev.ContainerId, "error", err)
			}
		case err := <-streamErr:
			// Unimplemented is the stream's first answer, so known is
			// not behind any event.
			if status.Code(err) == codes.Unimplemented {
				s.log.Info("CRI runtime has no container events; polling", "source", s.Name(), "runtime", v.RuntimeName, "version", v.RuntimeVersion, "interval", s.opts.PollInterval)
				return s.poll(ctx, rt, sink, known)
			}
			return fmt.Errorf("container events: %w", err)
		case <-resync.C:
			if known, err = s.list(ctx, rt, sink); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// subscribe opens the runtime's container event stream and forwards its
// events until it fails; the error, Unimplemented on runtimes without
// events, is sent last.
func subscribe(ctx context.Context, rt runtimeapi.RuntimeServiceClient) (<-chan *runtimeapi.ContainerEventResponse, <-chan error) {
	events := make(chan *runtimeapi.ContainerEventResponse)
	errc := make(chan error, 1)
	stream, err := rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		errc <- err
		return events, errc
	}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	return events, errc
}

// handle applies one event.
func (s *Source) handle(ctx context.Context, rt runtimeapi.RuntimeServiceClient, sink identity.Sink, ev *runtimeapi.ContainerEventResponse) error {
	sandboxID := ev.PodSandboxStatus.GetId()
	if ev.ContainerId == "" || ev.ContainerId == sandboxID {
		return nil // the pod sandbox's own event
	}
	switch ev.ContainerEventType {
	case runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT:
		c, err := s.container(ctx, rt, ev.ContainerId, sandboxID)
		if err != nil || c == nil {
			return err
		}
		sink.Upsert(c)
	case runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT:
		sink.Remove("", ev.ContainerId, nanos(ev.CreatedAt, time.Now()))
	}
	return nil
}

// poll lists the running containers every PollInterval and reports the
// difference from the previous list (known) until an error.
func (s *Source) poll(ctx context.Context, rt runtimeapi.RuntimeServiceClient, sink identity.Sink, known map[string]bool) error {
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		listed, err := s.running(ctx, rt)
		if err != nil {
			return err
		}
		now := make(map[string]bool, len(listed))
		for _, l := range listed {
			if known[l.Id] {
				now[l.Id] = true
				continue
			}
			c, err := s.container(ctx, rt, l.Id, l.PodSandboxId)
			if err != nil {
				s.log.Debug("CRI container", "source", s.Name(), "container", l.Id, "error", err)
				continue // tried again next time
			}
			if c != nil {
				sink.Upsert(c)
				now[l.Id] = true
			}
		}
		for id := range known {
			if !now[id] {
				sink.Remove("", id, s.finishedAt(ctx, rt, id))
			}
		}
		known = now
	}
}

// list reports the complete set of running containers and returns their ids.
func (s *Source) list(ctx context.Context, rt runtimeapi.RuntimeServiceClient, sink identity.Sink) (map[string]bool, error) {
	listed, err := s.running(ctx, rt)
	if err != nil {
		return nil, err
	}
	var running []*identity.Container
	ids := make(map[string]bool, len(listed))
	for _, l := range listed {
		c, err := s.container(ctx, rt, l.Id, l.PodSandboxId)
		if err != nil {
			if status.Code(err) == codes.NotFound {
				continue // gone since listed
			}
			return nil, err
		}
		if c != nil {
			running = append(running, c)
			ids[l.Id] = true
		}
	}
	sink.Sync(running)
	return ids, nil
}

// running lists the running containers (pod sandboxes are not containers
// in the CRI).
func (s *Source) running(ctx context.Context, rt runtimeapi.RuntimeServiceClient) ([]*runtimeapi.Container, error) {
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := rt.ListContainers(lctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return resp.Containers, nil
}

// verboseInfo is the part of ContainerStatus' verbose "info" JSON that
// CRI-O and containerd share.
type verboseInfo struct {
	Pid uint32 `json:"pid"`
}

// container returns the record of container id in pod sandboxID, or nil
// when it is not running.
func (s *Source) container(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id, sandboxID string) (*identity.Container, error) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := rt.ContainerStatus(cctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return nil, fmt.Errorf("container %s status: %w", id, err)
	}
	st := resp.Status
	if st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, nil
	}
	var info verboseInfo
	if err := json.Unmarshal([]byte(resp.Info["info"]), &info); err != nil {
		return nil, fmt.Errorf("container %s: verbose info: %w", id, err)
	}
	if info.Pid == 0 {
		return nil, fmt.Errorf("container %s: no pid in verbose info", id)
	}
	c := &identity.Container{
		Runtime:     s.opts.Runtime,
		Endpoint:    s.opts.Address,
		ID:          id,
		Name:        st.GetMetadata().GetName(),
		Image:       imageName(st.GetImage()),
		ImageDigest: digestOf(st.GetImageRef()),
		Labels:      st.GetLabels(),
		PID:         info.Pid,
		StartedAt:   nanos(st.GetStartedAt(), time.Time{}),
	}
	if sandboxID != "" {
		if err := s.addPod(cctx, rt, c, sandboxID); err != nil {
			s.log.Debug("CRI pod sandbox", "source", s.Name(), "container", id, "sandbox", sandboxID, "error", err)
		}
	}
	c.FillFromLabels()
	return c, nil
}

// addPod gives c its pod's labels, and the pod's name, namespace and uid
// from the sandbox metadata where c's labels lack them (kubelet sets them;
// other CRI clients may not).
func (s *Source) addPod(ctx context.Context, rt runtimeapi.RuntimeServiceClient, c *identity.Container, sandboxID string) error {
	resp, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
	if err != nil {
		return err
	}
	sb := resp.GetStatus()
	c.PodLabels = identity.PodLabelsFrom(sb.GetLabels())
	md := sb.GetMetadata()
	if c.Labels[identity.LabelPodName] != "" || md.GetName() == "" {
		return nil
	}
	c.Labels = maps.Clone(c.Labels)
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[identity.LabelPodName] = md.GetName()
	c.Labels[identity.LabelPodNamespace] = md.GetNamespace()
	c.Labels[identity.LabelPodUID] = md.GetUid()
	return nil
}

// finishedAt returns when container id stopped, or now when the runtime
// does not say (it may be deleted already).
func (s *Source) finishedAt(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) time.Time {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := rt.ContainerStatus(cctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return time.Now()
	}
	return nanos(resp.GetStatus().GetFinishedAt(), time.Now())
}

// imageName is the image the user asked for, when the runtime knows it,
// else the one it reports (containerd: the image's first tag).
func imageName(spec *runtimeapi.ImageSpec) string {
	if u := spec.GetUserSpecifiedImage(); u != "" {
		return u
	}
	return spec.GetImage()
}

// digestOf returns the digest of an image reference: CRI-O reports
// "name@sha256:...", containerd a repo digest or the image id "sha256:...".
func digestOf(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ref
}

// nanos converts a CRI timestamp (ns since the epoch, 0 when unset).
func nanos(ns int64, unset time.Time) time.Time {
	if ns <= 0 {
		return unset
	}
	return time.Unix(0, ns)
}
