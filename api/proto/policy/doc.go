// Package policy is the generated Go API of Bulwark's policy intake, proto
// package policy: PolicyService (containerPolicy, hostPolicy, networkPolicy),
// which takes a JSON policy event and answers with a PolicyStatus, and
// ProbeService (getProbeData), which reports the policies in force.
//
// The names and numbers are KubeArmor's, so full method names such as
// "/policy.PolicyService/hostPolicy" match upstream. Edit policy.proto, not the
// generated files, and run `make generate`.
package policy
