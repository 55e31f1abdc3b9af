package protoapi_test

import (
	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/api/proto/policy"
)

// Sample records shaped like what KubeArmor emits; shared by the gRPC, JSON
// and fuzz tests.

func sampleAlert() *feeder.Alert {
	return &feeder.Alert{
		Timestamp:         1700000000,
		UpdatedTime:       "2023-11-14T22:13:20.123456Z",
		ClusterName:       "default",
		HostName:          "node-1",
		NamespaceName:     "web",
		Owner:             &feeder.Podowner{Ref: "Deployment", Name: "nginx", Namespace: "web"},
		PodName:           "nginx-7c5ddbdf54-abcde",
		Labels:            "app=nginx",
		ContainerID:       "3f1c0e2b9a7d",
		ContainerName:     "nginx",
		ContainerImage:    "docker.io/library/nginx:1.27@sha256:0123abcd",
		HostPPID:          4100,
		HostPID:           4242,
		PPID:              1,
		PID:               37,
		ParentProcessName: "/bin/bash",
		ProcessName:       "/usr/bin/apt",
		PolicyName:        "block-pkg-mgrs",
		Severity:          "5",
		Tags:              "NIST,CM-7",
		ATags:             []string{"NIST", "CM-7"},
		Message:           "package manager blocked",
		Type:              "MatchedPolicy",
		Source:            "/bin/bash",
		Operation:         "Process",
		Resource:          "/usr/bin/apt update",
		Data:              "lsm=SECURITY_BPRM_CHECK",
		EventData:         map[string]string{"lsm": "SECURITY_BPRM_CHECK"},
		Enforcer:          "BPFLSM",
		Action:            "Block",
		Result:            "Permission denied",
		Cwd:               "/",
		TTY:               "pts0",
		ExecEvent:         &feeder.ExecEvent{ExecID: "8812345", ExecutableName: "bash"},
		KubeArmorVersion:  "bulwark-dev",
		NodeID:            "0123456789abcdef0123456789abcdef",
	}
}

func sampleLog() *feeder.Log {
	return &feeder.Log{
		Timestamp:         1700000001,
		UpdatedTime:       "2023-11-14T22:13:21.000001Z",
		ClusterName:       "default",
		HostName:          "node-1",
		ParentProcessName: "/usr/lib/systemd/systemd",
		ProcessName:       "/usr/sbin/sshd",
		HostPID:           812,
		HostPPID:          1,
		PID:               812,
		PPID:              1,
		Type:              "HostLog",
		Source:            "/usr/sbin/sshd",
		Operation:         "File",
		Resource:          "/etc/ssh/sshd_config",
		Data:              "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY",
		EventData:         map[string]string{"syscall": "SYS_OPENAT", "fd": "-100", "flags": "O_RDONLY"},
		Result:            "Passed",
		UserName:          "root",
	}
}

func sampleProbe() *policy.ProbeResponse {
	doc := &policy.Policy{Policy: []byte(`{"type":"ADDED","object":{"metadata":{"name":"block-pkg-mgrs"}}}`)}
	return &policy.ProbeResponse{
		ContainerList: []string{"nginx"},
		ContainerMap: map[string]*policy.ContainerData{
			"nginx": {PolicyList: []string{"block-pkg-mgrs"}, PolicyEnabled: 1, PolicyDataList: []*policy.Policy{doc}},
		},
		HostMap: map[string]*policy.HostSecurityPolicies{
			"node-1": {PolicyList: []string{"hsp-sleep"}, PolicyDataList: []*policy.Policy{doc}},
		},
		NetworkMap: map[string]*policy.NetworkSecurityPolicies{},
	}
}
