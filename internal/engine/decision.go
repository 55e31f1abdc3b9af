package engine

import "github.com/bulwark-security/bulwark/internal/policy"

// Action is a decision's outcome as reported in alerts.
type Action string

// Decision actions. Only ActionBlock denies the operation. The two
// "Audit (...)" actions appear only for workloads in audited policy mode.
const (
	ActionAllow      Action = "Allow"
	ActionAudit      Action = "Audit"
	ActionBlock      Action = "Block"
	ActionAuditBlock Action = "Audit (Block)" // would be denied; audited mode
	ActionAuditAllow Action = "Audit (Allow)" // Allow rule hit; audited mode
)

// DecisionSource says what produced a decision.
type DecisionSource string

// Decision sources.
const (
	SourcePolicy         DecisionSource = "policy"
	SourceDefaultPosture DecisionSource = "defaultPosture"
	SourceNone           DecisionSource = "none"
)

// DefaultPosturePolicyName is the policy name of default-posture decisions.
const DefaultPosturePolicyName = "DefaultPosture"

// RuleRef locates the rule behind a decision.
type RuleRef struct {
	Kind      policy.Kind     `json:"kind"`
	Namespace string          `json:"namespace,omitempty"`
	Section   string          `json:"section"`
	Index     int             `json:"index"`
	Location  policy.Location `json:"location"`
}

// Decision is what the policy set means for one operation.
type Decision struct {
	Action     Action         `json:"action"`
	Source     DecisionSource `json:"source"`
	PolicyName string         `json:"policyName,omitempty"`
	// Rule, Matcher, Severity, Tags and Message describe the deciding rule
	// and are empty for posture and no-match decisions. Rule and Tags are
	// shared with the RuleSet and the policy and must not be modified.
	Rule     *RuleRef       `json:"rule,omitempty"`
	Matcher  policy.Matcher `json:"matcher,omitempty"`
	Severity int            `json:"severity,omitempty"`
	Tags     []string       `json:"tags,omitempty"`
	Message  string         `json:"message,omitempty"`
	// FromSource is the rule's fromSource entry (path or directory) that
	// the operation's source matched, if the rule has one.
	FromSource string `json:"fromSource,omitempty"`
	// Alert is set when the decision should be reported as an alert: every
	// action but Allow and Audit (Allow).
	Alert bool `json:"alert"`
	// Reason says in a sentence why this is the decision.
	Reason string `json:"reason"`
}

// Denied reports whether the operation must be refused.
func (d *Decision) Denied() bool { return d.Action == ActionBlock }

func (a Action) alerts() bool { return a != ActionAllow && a != ActionAuditAllow }
