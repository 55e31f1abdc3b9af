package jsonline

import (
	"encoding/json"
	"testing"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// benchAlert is a typical policy alert for a file access in a container.
func benchAlert() *feeder.Alert {
	return &feeder.Alert{
		Timestamp: 1767323045, UpdatedTime: "2026-01-02T03:04:05.000001Z", ClusterName: "default", HostName: "node-1",
		NamespaceName: "web", Owner: &feeder.Podowner{Ref: "Deployment", Name: "nginx", Namespace: "web"},
		PodName: "nginx-7c79c4bf97-x2x9z", Labels: "app=nginx,tier=web",
		ContainerID:    "3f9a1c0d2e4b5a6978877f6e5d4c3b2a190817263544536271809a8b7c6d5e4f",
		ContainerName:  "nginx",
		ContainerImage: "docker.io/library/nginx:1.27@sha256:0a399eb16751829e1af26fea27b20c3ec28d7ab1fb72182879dcae1cca21206a",
		HostPPID:       4200, HostPID: 4242, PPID: 1, PID: 17, ParentProcessName: "/usr/bin/bash", ProcessName: "/usr/bin/cat",
		PolicyName: "ksp-block-shadow", Severity: "7", Tags: "CIS,PCI-DSS", ATags: []string{"CIS", "PCI-DSS"},
		Message: "shadow file access", Type: "MatchedPolicy", Source: "/usr/bin/cat /etc/shadow", Operation: "File",
		Resource: "/etc/shadow", Data: "lsm=FILE_OPEN flags=O_RDONLY",
		EventData: map[string]string{"lsm": "FILE_OPEN", "flags": "O_RDONLY", "Ancestry": "/usr/bin/bash,/usr/sbin/sshd"},
		Enforcer:  "BPFLSM", Action: "Block", Result: "Permission denied", Cwd: "/", ExecEvent: &feeder.ExecEvent{ExecID: "86133120", ExecutableName: "bash"},
		KubeArmorVersion: "v1.5.0", NodeID: "6a1f0c9e2b7d4f33a1b2c3d4e5f60718",
	}
}

// benchLog is a typical file-open log as the monitor produces it.
func benchLog() *feeder.Log {
	return &feeder.Log{
		Timestamp: 1767323045, UpdatedTime: "2026-01-02T03:04:05.000001Z", ClusterName: "default", HostName: "node-1",
		ParentProcessName: "/usr/bin/bash", ProcessName: "/usr/bin/cat", HostPPID: 4200, HostPID: 4242, PPID: 4200, PID: 4242,
		Type: "HostLog", Source: "/usr/bin/cat /etc/hostname", Operation: "File", Resource: "/usr/lib/x86_64-linux-gnu/libc.so.6",
		Data: "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC",
		EventData: map[string]string{"syscall": "SYS_OPENAT", "fd": "-100", "flags": "O_RDONLY|O_CLOEXEC",
			"Ancestry": "/usr/bin/bash,/usr/sbin/sshd,/usr/lib/systemd/systemd", "CgroupID": "4412"},
		Result: "Passed", Cwd: "/root/", TTY: "pts0", ExecEvent: &feeder.ExecEvent{ExecutableName: "cat"},
		NodeID: "6a1f0c9e2b7d4f33a1b2c3d4e5f60718",
	}
}

func benchPair[T any](b *testing.B, v *T, appendFn func([]byte, *T) []byte) {
	b.Run("jsonline", func(b *testing.B) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			buf = appendFn(buf[:0], v)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			out, err := json.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.SetBytes(int64(n))
	})
}

func BenchmarkAlert(b *testing.B) { benchPair(b, benchAlert(), AppendAlert) }
func BenchmarkLog(b *testing.B)   { benchPair(b, benchLog(), AppendLog) }
func BenchmarkString(b *testing.B) {
	benchPair(b, new("/usr/lib/x86_64-linux-gnu/libc.so.6 <&>"), func(dst []byte, s *string) []byte { return appendString(dst, *s, true) })
}
