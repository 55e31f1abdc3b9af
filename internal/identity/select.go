package identity

import (
	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

// SelectPolicies returns the policies among policies that apply to c, in
// their order: engine.Select for c.Workload().
func SelectPolicies(policies []*policy.Policy, c *Container) []*policy.Policy {
	return engine.Select(policies, c.Workload())
}
