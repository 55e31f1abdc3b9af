package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/pipeline"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
)

type logService struct {
	feeder.UnimplementedLogServiceServer
	s *Server
}

// HealthCheck echoes the nonce, as upstream.
func (l *logService) HealthCheck(_ context.Context, in *feeder.NonceMessage) (*feeder.ReplyMessage, error) {
	return &feeder.ReplyMessage{Retval: in.GetNonce()}, nil
}

func (l *logService) WatchAlerts(in *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Alert]) error {
	return watch(l.s, pipeline.KindAlert, in.GetFilter(), stream, func(ev pipeline.Event) *feeder.Alert { return ev.Alert })
}

func (l *logService) WatchLogs(in *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Log]) error {
	return watch(l.s, pipeline.KindLog, in.GetFilter(), stream, func(ev pipeline.Event) *feeder.Log { return ev.Log })
}

func (l *logService) WatchMessages(in *feeder.RequestMessage, stream grpc.ServerStreamingServer[feeder.Message]) error {
	return watch(l.s, pipeline.KindMessage, in.GetFilter(), stream, func(ev pipeline.Event) *feeder.Message { return ev.Message })
}

// watch streams one kind of record until the client goes away, the server
// stops or the pipeline ends. An invalid filter ends the stream at once
// with OK, as upstream.
func watch[T any](s *Server, kind pipeline.Kind, filter string, stream grpc.ServerStreamingServer[T], pick func(pipeline.Event) *T) error {
	ctx := stream.Context()
	client := ""
	if p, ok := peer.FromContext(ctx); ok {
		client = p.Addr.String()
	}
	if !pipeline.ValidFilter(kind, filter) {
		s.log.Debug("watch with unknown filter ended", "kind", kind.String(), "filter", filter, "peer", client)
		return nil
	}
	sub, err := s.opts.Pipeline.Subscribe(kind, filter)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer sub.Close()
	s.log.Info("subscriber joined", "kind", kind.String(), "filter", filter, "peer", client)
	defer func() {
		s.log.Info("subscriber left", "kind", kind.String(), "filter", filter, "peer", client, "dropped", sub.Dropped())
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			return nil
		case ev, ok := <-sub.Events():
			if !ok {
				return nil
			}
			if err := stream.Send(sendable(pick(ev))); err != nil {
				return err
			}
		}
	}
}

type policyService struct {
	policypb.UnimplementedPolicyServiceServer
	api PolicyAPI
	log *slog.Logger
}

func (p *policyService) ContainerPolicy(ctx context.Context, in *policypb.Policy) (*policypb.Response, error) {
	return p.apply(ctx, PolicyClassContainer, in)
}

func (p *policyService) HostPolicy(ctx context.Context, in *policypb.Policy) (*policypb.Response, error) {
	return p.apply(ctx, PolicyClassHost, in)
}

func (p *policyService) NetworkPolicy(ctx context.Context, in *policypb.Policy) (*policypb.Response, error) {
	return p.apply(ctx, PolicyClassNetwork, in)
}

func (p *policyService) apply(ctx context.Context, class PolicyClass, in *policypb.Policy) (*policypb.Response, error) {
	st, err := p.api.ApplyPolicy(ctx, class, in.GetPolicy())
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, status.FromContextError(err).Err()
		}
		p.log.Info("policy request refused", "class", string(class), "status", st.String(), "error", err)
		// KubeArmor clients (karmor vm policy) read only the status, so a
		// refusal is a normal response; the reason travels in a trailer.
		_ = grpc.SetTrailer(ctx, metadata.Pairs(PolicyErrorTrailer, err.Error()))
		return &policypb.Response{Status: st}, nil
	}
	p.log.Info("policy request applied", "class", string(class), "status", st.String())
	return &policypb.Response{Status: st}, nil
}

// PolicyErrorTrailer is the trailer key ("-bin": any bytes) carrying the
// reason a PolicyService request was refused, e.g. validation diagnostics.
const PolicyErrorTrailer = "bulwark-policy-error-bin"

type probeService struct {
	policypb.UnimplementedProbeServiceServer
	api PolicyAPI
}

func (p *probeService) GetProbeData(ctx context.Context, _ *emptypb.Empty) (*policypb.ProbeResponse, error) {
	resp, err := p.api.ProbeData(ctx)
	if err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	return resp, nil
}
