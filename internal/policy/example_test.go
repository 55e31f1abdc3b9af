package policy_test

import (
	"fmt"

	"github.com/bulwark-security/bulwark/internal/policy"
)

func ExampleLoadBytes() {
	const doc = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata: {name: block-pkg-mgmt, namespace: default}
spec:
  selector: {matchLabels: {app: nginx}}
  process:
    matchPaths: [{path: /usr/bin/apt}, {execname: apt-get}]
  network:
    matchProtocols: [{protocol: "tcp,UDP", action: audit}]
  action: Block
`
	res := policy.LoadBytes("ksp.yaml", []byte(doc), policy.Options{})
	for _, d := range res.Diagnostics {
		fmt.Println(d)
	}
	for _, r := range res.Policies[0].Rules {
		fmt.Println(r.Section, r.Index, r.Action, r.Path+r.ExecName+r.Protocol)
	}
	// Output:
	// ksp.yaml:9:52: spec.network.matchProtocols[0].action: warning: "audit" is read as "Audit", but the Kubernetes CRD only accepts Allow, Audit, Block
	// process.matchPaths 0 Block /usr/bin/apt
	// process.matchPaths 1 Block apt-get
	// network.matchProtocols 0 Audit tcp
	// network.matchProtocols 0 Audit udp
}

func ExampleLoadBytes_errors() {
	const doc = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorHostPolicy
metadata: {name: h}
spec:
  file:
    matchPaths: [{path: /etc/passwd}]
    matchPaths: [{path: /etc/shadow}]
  action: Block
`
	res := policy.LoadBytes("hsp.yaml", []byte(doc), policy.Options{Lenient: true})
	for _, d := range res.Diagnostics {
		fmt.Println(d)
	}
	fmt.Println(len(res.Policies), "policies")
	// Output:
	// hsp.yaml:7:5: spec.file.matchPaths: warning: duplicate key "matchPaths" (first at line 6); the last value wins and the earlier one is silently dropped
	// hsp.yaml:5:3: spec.nodeSelector: error: required field "nodeSelector" is missing
	// 0 policies
}
