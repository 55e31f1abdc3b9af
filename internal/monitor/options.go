package monitor

import (
	"log/slog"
	"strings"
	"time"
)

// Visibility is a set of event classes, as in KubeArmor's visibility
// settings ("process,file,network,capabilities").
type Visibility uint32

// Visibility classes. Their values are the kernel's.
const (
	VisibilityProcess      Visibility = 1
	VisibilityFile         Visibility = 2
	VisibilityNetwork      Visibility = 4
	VisibilityCapabilities Visibility = 8
	VisibilityAll                     = VisibilityProcess | VisibilityFile | VisibilityNetwork | VisibilityCapabilities
	// VisibilityNone explicitly shows nothing; a zero Visibility in
	// Options means "the default".
	VisibilityNone Visibility = 1 << 31
)

// kernelMask is the value stored in the kernel's visibility map.
func (v Visibility) kernelMask() uint32 { return uint32(v & VisibilityAll) }

// String formats v as KubeArmor's comma list, or "none".
func (v Visibility) String() string {
	var parts []string
	for _, c := range []struct {
		v Visibility
		s string
	}{{VisibilityProcess, "process"}, {VisibilityFile, "file"}, {VisibilityNetwork, "network"}, {VisibilityCapabilities, "capabilities"}} {
		if v&c.v != 0 {
			parts = append(parts, c.s)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// ParseVisibility parses KubeArmor's comma list; unknown words (dns, ima)
// are ignored, "none" or an empty list is VisibilityNone.
func ParseVisibility(s string) Visibility {
	var v Visibility
	for w := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(strings.ToLower(w)) {
		case "process":
			v |= VisibilityProcess
		case "file":
			v |= VisibilityFile
		case "network":
			v |= VisibilityNetwork
		case "capabilities":
			v |= VisibilityCapabilities
		}
	}
	if v == 0 {
		return VisibilityNone
	}
	return v
}

// Options configure a Monitor. The zero value gives the defaults below.
type Options struct {
	// Handler receives every decoded, enriched event on the reader
	// goroutine. The *Event and its byte slices are reused after Handler
	// returns. Nil: events maintain the process tree and are counted only.
	Handler func(*Event)

	// Visibility is the default for containers (workloads not on the
	// host). Zero: VisibilityAll, KubeArmor's daemon default.
	Visibility Visibility
	// HostVisibility is the default for host processes (those sharing the
	// host's mount namespace). Zero: VisibilityAll.
	HostVisibility Visibility
	// HostMountNS is the inode of the host's mount namespace; tasks in it
	// are host tasks (HostVisibility, HostLog). Default: PID 1's, or the
	// monitor's own when PID 1 cannot be inspected.
	HostMountNS uint64
	// ReportFailures passes failed syscalls (and refused capability
	// checks) of classes that are not visible, as KubeArmor does for
	// AppArmor alerts. Default false: invisible classes cost the least.
	ReportFailures bool
	// ReportNotFound keeps file and exec events that failed with ENOENT,
	// which KubeArmor drops in the kernel. Default false.
	ReportNotFound bool
	// ReportInProgress keeps connects that returned EINPROGRESS, dropped
	// in the kernel by default.
	ReportInProgress bool

	// RingBufferSize is the ring buffer's size in bytes, a power of two
	// and a multiple of the page size. Default 16 MiB.
	RingBufferSize int
	// WakeupBytes batches reader wake-ups: records are submitted with
	// BPF_RB_NO_WAKEUP until this much data is waiting. Default 256 KiB;
	// negative wakes the reader for every record.
	WakeupBytes int
	// FlushInterval bounds the latency of batched records: the reader
	// drains the ring at least this often. Default 10ms.
	FlushInterval time.Duration

	// Tree configures the process tree. ProcFS defaults to "/proc" (set
	// NoSeed to skip reading it at start).
	Tree   TreeOptions
	NoSeed bool

	// Logger receives warnings (unavailable attach points). Default: none.
	Logger *slog.Logger
}

const (
	defaultRingBufferSize = 16 << 20
	defaultWakeupBytes    = 256 << 10
	defaultFlushInterval  = 10 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.Visibility == 0 {
		o.Visibility = VisibilityAll
	}
	if o.HostVisibility == 0 {
		o.HostVisibility = VisibilityAll
	}
	if o.RingBufferSize <= 0 {
		o.RingBufferSize = defaultRingBufferSize
	}
	if o.WakeupBytes == 0 {
		o.WakeupBytes = defaultWakeupBytes
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = defaultFlushInterval
	}
	if o.Tree.ProcFS == "" {
		o.Tree.ProcFS = "/proc"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
