package policy

// This file is the normalised policy model: what a KubeArmor policy means once
// defaults, inheritance and comma lists are resolved. The loader produces it
// from the API types (api/security/v1); the decision engine and every enforcer
// consume it and never look at raw YAML again.

// Kind is the kind of a KubeArmor policy object.
type Kind string

// The KubeArmor policy kinds.
const (
	KindPolicy        Kind = "KubeArmorPolicy"
	KindClusterPolicy Kind = "KubeArmorClusterPolicy"
	KindHostPolicy    Kind = "KubeArmorHostPolicy"
	KindNetworkPolicy Kind = "KubeArmorNetworkPolicy"
)

// Action is a normalised rule action (always capitalised).
type Action string

// Rule actions.
const (
	ActionAllow Action = "Allow"
	ActionAudit Action = "Audit"
	ActionBlock Action = "Block"
)

// Class is the resource class a rule speaks about. Process and file rules
// share one allow-list class (see Class.PostureClass).
type Class string

// Rule classes.
const (
	ClassProcess      Class = "process"
	ClassFile         Class = "file"
	ClassNetwork      Class = "network"
	ClassCapabilities Class = "capabilities"
	ClassSyscalls     Class = "syscalls"
	ClassDevice       Class = "device"
)

// PostureClass returns the class whose default posture governs c: KubeArmor
// puts process and file rules in one "file" class.
func (c Class) PostureClass() Class {
	if c == ClassProcess {
		return ClassFile
	}
	return c
}

// Matcher says which field of a rule selects its target.
type Matcher string

// Rule matchers.
const (
	MatchPath       Matcher = "path"       // exact absolute path
	MatchExecName   Matcher = "execname"   // basename of the executable
	MatchDirectory  Matcher = "directory"  // files directly in Dir (or below, if Recursive)
	MatchPattern    Matcher = "pattern"    // AppArmor-style glob
	MatchProtocol   Matcher = "protocol"   // network protocol or socket type
	MatchDNS        Matcher = "dns"        // DNS query domain (and subdomains)
	MatchCapability Matcher = "capability" // Linux capability (lowercase, no cap_ prefix)
	MatchSyscall    Matcher = "syscall"    // syscall name, any target
	MatchDevice     Matcher = "device"     // USB device class
)

// Location points into the source document of a policy.
type Location struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// Source is one fromSource entry: the acting executable a rule is limited to.
// Path is an exact executable; Dir (ending in "/") is a directory of
// executables, searched recursively when Recursive is set (syscall rules only).
type Source struct {
	Path      string `json:"path,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
}

// Rule is one normalised rule. Action, Severity, Tags and Message are already
// inherited from the section and spec; comma lists are already expanded into
// one rule each.
type Rule struct {
	Class   Class   `json:"class"`
	Matcher Matcher `json:"matcher"`
	// Section is the rule's place in the spec, e.g. "file.matchDirectories";
	// Index is its position in that list (before comma expansion).
	Section string `json:"section"`
	Index   int    `json:"index"`

	Path       string `json:"path,omitempty"`     // MatchPath, and syscall matchPaths targets
	ExecName   string `json:"execname,omitempty"` // MatchExecName
	Dir        string `json:"dir,omitempty"`      // MatchDirectory, ends in "/"
	Recursive  bool   `json:"recursive,omitempty"`
	Pattern    string `json:"pattern,omitempty"`    // MatchPattern
	Protocol   string `json:"protocol,omitempty"`   // MatchProtocol, lowercase
	Domain     string `json:"domain,omitempty"`     // MatchDNS, without leading/trailing dots
	Capability string `json:"capability,omitempty"` // MatchCapability, lowercase without "cap_"
	// Syscalls lists syscall names for syscall rules (MatchSyscall, or a
	// syscall matchPaths rule where Path/Dir is the target).
	Syscalls []string `json:"syscalls,omitempty"`
	Device   *Device  `json:"device,omitempty"`

	OwnerOnly   bool     `json:"ownerOnly,omitempty"`
	ReadOnly    bool     `json:"readOnly,omitempty"`
	FromSource  []Source `json:"fromSource,omitempty"`
	AllowedArgs []string `json:"allowedArgs,omitempty"`
	// PTS is the rule's `pts` field (nil when absent); package engine
	// documents how it limits a rule by the acting process's terminal.
	PTS *bool `json:"pts,omitempty"`

	Action   Action   `json:"action"`
	Severity int      `json:"severity,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Message  string   `json:"message,omitempty"`

	Location Location `json:"location"`
}

// Device is a USB device match of a host policy.
type Device struct {
	Class    string `json:"class"`
	SubClass *int   `json:"subClass,omitempty"`
	Protocol *int   `json:"protocol,omitempty"`
	Level    *int   `json:"level,omitempty"`
}

// Expression is one matchExpressions entry: Key is "label" or "namespace",
// Operator "In" or "NotIn"; label values are "key=value" strings.
type Expression struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// Selector says which workloads a policy applies to.
type Selector struct {
	// MatchLabels are pod/container labels (KubeArmorPolicy, KubeArmorClusterPolicy)
	// without the special kubearmor.io/container.name key.
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	Expressions []Expression      `json:"matchExpressions,omitempty"`
	// ContainerNames comes from the kubearmor.io/container.name label
	// ("[a, b]" in Kubernetes; a regular expression outside it).
	ContainerNames []string `json:"containerNames,omitempty"`
	// NodeLabels is a host or network policy's nodeSelector.matchLabels,
	// including the kubearmor.io/hostname and kubearmor.io/hostnamereg keys.
	NodeLabels map[string]string `json:"nodeLabels,omitempty"`
}

// Preset is a named built-in protection (filelessExec, anonymousMapExec, ...).
type Preset struct {
	Name   string `json:"name"`
	Action Action `json:"action"`
}

// Policy is one normalised policy.
type Policy struct {
	Kind      Kind     `json:"kind"`
	Name      string   `json:"name"`
	Namespace string   `json:"namespace,omitempty"`
	Selector  Selector `json:"selector"`
	Rules     []Rule   `json:"rules"`
	Presets   []Preset `json:"presets,omitempty"`
	// AppArmor holds raw AppArmor lines (spec.apparmor) for the AppArmor enforcer.
	AppArmor string   `json:"apparmor,omitempty"`
	Location Location `json:"location"`
}
