package engine_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

func ExampleRuleSet_Decide() {
	// Allow-list: nginx may only run itself; /etc/shadow is blocked outright.
	p := &policy.Policy{
		Kind: policy.KindPolicy, Name: "harden-nginx", Namespace: "web",
		Selector: policy.Selector{MatchLabels: map[string]string{"app": "nginx"}},
		Rules: []policy.Rule{
			{Class: policy.ClassProcess, Matcher: policy.MatchPath, Section: "process.matchPaths",
				Path: "/usr/sbin/nginx", Action: policy.ActionAllow},
			{Class: policy.ClassFile, Matcher: policy.MatchPath, Section: "file.matchPaths",
				Path: "/etc/shadow", Action: policy.ActionBlock, Severity: 7, Tags: []string{"CIS"},
				Message: "shadow file access", Location: policy.Location{File: "nginx.yaml", Line: 14, Column: 9}},
		},
	}
	w := engine.Workload{
		Namespace: "web", Labels: map[string]string{"app": "nginx"}, ContainerName: "nginx",
		Postures: engine.Postures{File: engine.PostureBlock},
	}
	rs := engine.Compile([]*policy.Policy{p}, w)

	d := rs.Decide(engine.Operation{Kind: engine.OpFile, Path: "/etc/shadow", Source: "/usr/sbin/nginx"})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		panic(err)
	}

	d = rs.Decide(engine.Operation{Kind: engine.OpProcess, Path: "/bin/sh", Source: "/usr/sbin/nginx"})
	fmt.Println(d.Action, d.PolicyName, d.Denied())
	// Output:
	// {
	//   "action": "Block",
	//   "source": "policy",
	//   "policyName": "harden-nginx",
	//   "rule": {
	//     "kind": "KubeArmorPolicy",
	//     "namespace": "web",
	//     "section": "file.matchPaths",
	//     "index": 0,
	//     "location": {
	//       "file": "nginx.yaml",
	//       "line": 14,
	//       "column": 9
	//     }
	//   },
	//   "matcher": "path",
	//   "severity": 7,
	//   "tags": [
	//     "CIS"
	//   ],
	//   "message": "shadow file access",
	//   "alert": true,
	//   "reason": "the operation matches Block rule file.matchPaths[0] (path /etc/shadow) of KubeArmorPolicy web/harden-nginx, which denies it"
	// }
	// Block DefaultPosture true
}

func ExampleResolvePostures() {
	global := engine.Postures{File: engine.PostureAudit, Network: engine.PostureAudit, Capabilities: engine.PostureAudit}
	p, warnings := engine.ResolvePostures(global, map[string]string{
		engine.AnnotationFilePosture:    "block",
		engine.AnnotationNetworkPosture: "deny",
	})
	fmt.Printf("%+v\n%s\n", p, warnings[0])
	// Output:
	// {File:block Network:audit Capabilities:audit}
	// namespace annotation kubearmor-network-posture="deny" is not audit or block; using "audit"
}
