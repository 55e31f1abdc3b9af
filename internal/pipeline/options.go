package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// Defaults of Options and ThrottleOptions.
const (
	DefaultQueueSize       = 1000 // per subscriber, as upstream
	DefaultInputQueueSize  = 8192
	DefaultSinkQueueSize   = 8192
	DefaultMaxAlertsPerSec = 10
	DefaultThrottleSec     = 30
)

// Special values of Options.LogPath.
const (
	LogPathNone   = "none"
	LogPathStdout = "stdout"
)

// Options configures a Pipeline. The zero value is usable: no sink,
// throttling on with upstream's defaults, no metrics, no logging.
type Options struct {
	// LogPath is where alerts and logs are written as JSON lines:
	// "stdout", "none", or a file path (appended to; missing directories are
	// created). Empty means "none", upstream's default.
	LogPath string

	// Throttle configures alert throttling.
	Throttle ThrottleOptions

	// QueueSize is the queue length of each subscriber. Default 1000.
	QueueSize int
	// InputQueueSize is the length of the queue between producers and the
	// dispatcher. Default 8192.
	InputQueueSize int
	// SinkQueueSize is the length of the queue in front of the log sink.
	// Default 8192.
	SinkQueueSize int

	// Logger receives the pipeline's own diagnostics. Nil discards them.
	Logger *slog.Logger
	// Registerer, if not nil, gets the pipeline's metrics (see metrics.go).
	Registerer prometheus.Registerer

	// ClusterName, HostName and NodeID are stamped into records that lack
	// them (HostName and ClusterName also into messages).
	ClusterName string
	HostName    string
	NodeID      string
}

// ThrottleOptions configures alert throttling (config keys alertThrottling,
// maxAlertPerSec, throttleSec).
type ThrottleOptions struct {
	// Enabled turns throttling on or off. Nil means on; use new(false) to
	// turn it off.
	Enabled *bool
	// MaxAlertsPerSec is the number of alerts a workload, or one rule of a
	// workload, may raise within one second before it is muted. Default 10.
	MaxAlertsPerSec int
	// ThrottleSec is how long, in seconds, a workload or rule stays muted.
	// Default 30.
	ThrottleSec int
	// RuleKey names the rule behind an alert. Nil means RuleKey.
	RuleKey func(*feeder.Alert) string
}

// RuleKey is the default rule identity used for per-rule throttling: the
// alert's policy name, operation, severity, tags and message, which together
// tell apart the rules of a policy (default-posture alerts group by
// operation).
func RuleKey(a *feeder.Alert) string {
	return strings.Join([]string{a.GetPolicyName(), a.GetOperation(), a.GetSeverity(), a.GetTags(), a.GetMessage()}, "\x1f")
}

func (o Options) withDefaults() (Options, error) {
	if o.LogPath == "" {
		o.LogPath = LogPathNone
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.InputQueueSize == 0 {
		o.InputQueueSize = DefaultInputQueueSize
	}
	if o.SinkQueueSize == 0 {
		o.SinkQueueSize = DefaultSinkQueueSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if o.QueueSize < 0 || o.InputQueueSize < 0 || o.SinkQueueSize < 0 {
		errs = append(errs, errors.New("queue sizes must not be negative"))
	}
	t, err := o.Throttle.withDefaults()
	o.Throttle = t
	return o, errors.Join(append(errs, err)...)
}

func (t ThrottleOptions) withDefaults() (ThrottleOptions, error) {
	if t.MaxAlertsPerSec == 0 {
		t.MaxAlertsPerSec = DefaultMaxAlertsPerSec
	}
	if t.ThrottleSec == 0 {
		t.ThrottleSec = DefaultThrottleSec
	}
	if t.RuleKey == nil {
		t.RuleKey = RuleKey
	}
	var errs []error
	if t.MaxAlertsPerSec < 0 {
		errs = append(errs, fmt.Errorf("max alerts per second %d: must not be negative", t.MaxAlertsPerSec))
	}
	if t.ThrottleSec < 0 {
		errs = append(errs, fmt.Errorf("throttle seconds %d: must not be negative", t.ThrottleSec))
	}
	return t, errors.Join(errs...)
}

func (t ThrottleOptions) enabled() bool { return t.Enabled == nil || *t.Enabled }
