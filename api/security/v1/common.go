package v1

// SeverityType is an alert severity, 1 (lowest) to 10.
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=10
type SeverityType int

// ActionType is what happens when a rule matches.
// +kubebuilder:validation:Enum=Allow;Audit;Block
type ActionType string

// The rule actions.
const (
	ActionAllow ActionType = "Allow"
	ActionAudit ActionType = "Audit"
	ActionBlock ActionType = "Block"
)

// MatchPathType is an absolute path without a trailing slash.
// +kubebuilder:validation:Pattern=`^\/+.*[^\/]$`
// +kubebuilder:validation:MaxLength=200
type MatchPathType string

// MatchDirectoryType is an absolute directory path ending in a slash.
// +kubebuilder:validation:Pattern=`^\/$|^\/.*\/$`
type MatchDirectoryType string

// MatchSyscallPathType is either a MatchPathType or a MatchDirectoryType.
// +kubebuilder:validation:Pattern=`(^\/+.*[^\/]$)|(^\/$|^\/.*\/$)`
type MatchSyscallPathType string

// MatchBinType is an executable's base name (no slash).
// +kubebuilder:validation:Pattern=`^[^\/]+$`
type MatchBinType string

// MatchNetworkProtocolStringType is a protocol or socket type, or a comma
// list of them. Like upstream, the pattern is only anchored at the end.
// +kubebuilder:validation:Pattern=`(tcp|TCP|udp|UDP|raw|RAW|icmp|ICMP|icmpv6|ICMPV6|sctp|SCTP|stream|STREAM|dgram|DGRAM|rdm|RDM|seqpacket|SEQPACKET|dccp|DCCP|packet|PACKET|all|ALL)$`
type MatchNetworkProtocolStringType string

// MatchCapabilitiesStringType is a capability name (lowercase, without
// "cap_") or a comma list of them. Like upstream, the pattern is only
// anchored at the end.
// +kubebuilder:validation:Pattern=`(chown|dac_override|dac_read_search|fowner|fsetid|kill|setgid|setuid|setpcap|linux_immutable|net_bind_service|net_broadcast|net_admin|net_raw|ipc_lock|ipc_owner|sys_module|sys_rawio|sys_chroot|sys_ptrace|sys_pacct|sys_admin|sys_boot|sys_nice|sys_resource|sys_time|sys_tty_config|mknod|lease|audit_write|audit_control|setfcap|mac_override|mac_admin)$`
type MatchCapabilitiesStringType string

// RuleMeta is the alert metadata and action any rule, section or spec may
// carry; missing values are inherited from the enclosing level.
type RuleMeta struct {
	// +optional
	Severity SeverityType `json:"severity,omitempty"`
	// +optional
	Tags []string `json:"tags,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	Action ActionType `json:"action,omitempty"`
}

// AlertMeta is RuleMeta without an action (syscall rules are always Audit).
type AlertMeta struct {
	// +optional
	Severity SeverityType `json:"severity,omitempty"`
	// +optional
	Tags []string `json:"tags,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// NodeSelectorType selects nodes by label.
type NodeSelectorType struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// MatchExpressionsType is a KubeArmorPolicy selector expression.
type MatchExpressionsType struct {
	// +kubebuilder:validation:Enum=label
	Key string `json:"key,omitempty"`
	// +kubebuilder:validation:Enum=In;NotIn
	Operator string `json:"operator,omitempty"`
	// Values are "key=value" label strings.
	Values []string `json:"values,omitempty"`
}

// SelectorType selects the pods of a KubeArmorPolicy.
type SelectorType struct {
	MatchLabels      map[string]string      `json:"matchLabels,omitempty"`
	MatchExpressions []MatchExpressionsType `json:"matchExpressions,omitempty"`
}

// MatchSourceType limits a rule to one acting executable.
type MatchSourceType struct {
	Path MatchPathType `json:"path,omitempty"`
}

// PresetType enables a named built-in protection.
type PresetType struct {
	// Name is filelessExec, anonymousMapExec, protectEnv, exec or protectProc.
	Name string `json:"name,omitempty"`
	// +optional
	Action ActionType `json:"action,omitempty"`
}

// PolicyStatus is the (unmaintained) status of every KubeArmor policy kind.
type PolicyStatus struct {
	PolicyStatus string `json:"status,omitempty"`
}
