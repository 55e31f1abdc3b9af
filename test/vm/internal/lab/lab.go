// Package lab holds what the kernel lab's host harness (package vm) and its guest agent
// (cmd/vminit) agree on: the guest's file layout, its mounts, the job manifest and the
// records the agent streams back.
package lab

import "time"

// Guest paths.
const (
	// Marker exists only in the lab's guest image; guest tests refuse to run without it.
	Marker = "/etc/bulwark-kernel-lab"
	// ManifestPath is the job manifest the host puts into each run's image.
	ManifestPath = "/vm/manifest.json"
	// JobsDir holds one directory per job, the job's working directory.
	JobsDir = "/vm/jobs"
	// OutDir holds one directory per job for its artifacts; the agent sends
	// every file found there back to the host.
	OutDir = "/vm/out"
	// ResultsPort is the serial port that carries records to the host; the
	// console (ttyS0) carries the kernel's messages.
	ResultsPort = "/dev/ttyS1"
	// ConsolePort is the serial console.
	ConsolePort = "/dev/ttyS0"
)

// The unprivileged test user of the guest.
const (
	TestUser = "tester"
	TestUID  = 1000
	TestGID  = 1000
	TestHome = "/home/tester"
)

// Env is the environment of every job and shell in the guest.
var Env = []string{
	"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TMPDIR=/tmp",
	"BULWARK_KERNEL_LAB=1",
}

// Mount is one file system the agent mounts at boot.
type Mount struct {
	Source, Target, FSType string
}

// Mounts lists the guest's file systems in mount order.
var Mounts = []Mount{
	{"proc", "/proc", "proc"},
	{"sysfs", "/sys", "sysfs"},
	{"devtmpfs", "/dev", "devtmpfs"},
	{"devpts", "/dev/pts", "devpts"},
	{"tmpfs", "/dev/shm", "tmpfs"},
	{"tmpfs", "/tmp", "tmpfs"},
	{"tmpfs", "/run", "tmpfs"},
	{"securityfs", "/sys/kernel/security", "securityfs"},
	{"bpf", "/sys/fs/bpf", "bpf"},
	{"tracefs", "/sys/kernel/tracing", "tracefs"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
}

// Mode says what the agent does after boot.
type Mode string

const (
	// ModeJobs runs the manifest's jobs, streams records and powers off.
	ModeJobs Mode = "jobs"
	// ModeShell runs an interactive shell on the console and powers off when it exits.
	ModeShell Mode = "shell"
)

// Manifest tells the agent what to do.
type Manifest struct {
	Mode Mode
	Jobs []Job `json:",omitempty"`
}

// Job is one command the agent runs, as root, with Env.
type Job struct {
	// Name is unique in a manifest and safe as a file name.
	Name string
	// Args is the command line; Args[0] is an absolute guest path.
	Args []string
	// Dir is the working directory.
	Dir string
	// Timeout bounds the job; the agent kills its process group after it.
	Timeout time.Duration
}

// Record is one line (JSON) on ResultsPort. Exactly one of its groups is set:
// Ready; Job with Output; Job with Exit; Job with File and Data; Done.
type Record struct {
	// Ready: the agent has mounted everything; UptimeMS is the guest's uptime then.
	Ready    bool  `json:",omitempty"`
	UptimeMS int64 `json:",omitempty"`

	Job string `json:",omitempty"`
	// Output is a line (or the unterminated tail) of the job's combined stdout and stderr.
	Output string `json:",omitempty"`
	// Exit is the job's exit status, set when it ended; -1 when it was killed
	// or did not start, with Error saying why.
	Exit  *int   `json:",omitempty"`
	Error string `json:",omitempty"`
	// File is an artifact's path relative to the job's OutDir, Data its content.
	File string `json:",omitempty"`
	Data []byte `json:",omitempty"`

	// Done: all jobs ended; the agent powers off next.
	Done bool `json:",omitempty"`
}
