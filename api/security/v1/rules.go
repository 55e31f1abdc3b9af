package v1

// ProcessPathType matches an executable by path or by base name.
type ProcessPathType struct {
	// +optional
	Path MatchPathType `json:"path,omitempty"`
	// +optional
	ExecName MatchBinType `json:"execname,omitempty"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`
	// AllowedArgs lists the only arguments the executable may receive.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	AllowedArgs []string `json:"allowedArgs,omitempty"`
	// PTS limits the rule by the acting process's controlling terminal.
	// +optional
	PTS *bool `json:"pts,omitempty"`

	RuleMeta `json:",inline"`
}

// ProcessDirectoryType matches the executables of a directory.
type ProcessDirectoryType struct {
	Directory MatchDirectoryType `json:"dir"`
	// +optional
	Recursive bool `json:"recursive,omitempty"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`
	// +optional
	PTS *bool `json:"pts,omitempty"`

	RuleMeta `json:",inline"`
}

// ProcessPatternType matches executables by AppArmor glob.
type ProcessPatternType struct {
	Pattern string `json:"pattern"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`

	RuleMeta `json:",inline"`
}

// ProcessType is the process section of a policy.
type ProcessType struct {
	MatchPaths       []ProcessPathType      `json:"matchPaths,omitempty"`
	MatchDirectories []ProcessDirectoryType `json:"matchDirectories,omitempty"`
	MatchPatterns    []ProcessPatternType   `json:"matchPatterns,omitempty"`

	RuleMeta `json:",inline"`
}

// FilePathType matches one file.
type FilePathType struct {
	Path MatchPathType `json:"path"`
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`

	RuleMeta `json:",inline"`
}

// FileDirectoryType matches the files of a directory.
type FileDirectoryType struct {
	Directory MatchDirectoryType `json:"dir"`
	// +optional
	Recursive bool `json:"recursive,omitempty"`
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`

	RuleMeta `json:",inline"`
}

// FilePatternType matches files by AppArmor glob.
type FilePatternType struct {
	Pattern string `json:"pattern"`
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
	// +optional
	OwnerOnly bool `json:"ownerOnly,omitempty"`

	RuleMeta `json:",inline"`
}

// FileType is the file section of a policy.
type FileType struct {
	MatchPaths       []FilePathType      `json:"matchPaths,omitempty"`
	MatchDirectories []FileDirectoryType `json:"matchDirectories,omitempty"`
	MatchPatterns    []FilePatternType   `json:"matchPatterns,omitempty"`

	RuleMeta `json:",inline"`
}

// MatchNetworkProtocolType matches sockets of a protocol or type.
type MatchNetworkProtocolType struct {
	Protocol MatchNetworkProtocolStringType `json:"protocol"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`
	// +optional
	PTS *bool `json:"pts,omitempty"`

	RuleMeta `json:",inline"`
}

// MatchHostNetworkProtocolType is MatchNetworkProtocolType for host
// policies, where fromSource is required.
type MatchHostNetworkProtocolType struct {
	Protocol   MatchNetworkProtocolStringType `json:"protocol"`
	FromSource []MatchSourceType              `json:"fromSource"`
	// +optional
	PTS *bool `json:"pts,omitempty"`

	RuleMeta `json:",inline"`
}

// MatchDNSQueryType matches DNS queries for a domain and its subdomains.
type MatchDNSQueryType struct {
	// Domain is a domain or a comma list of domains.
	Domain string `json:"domain"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`

	RuleMeta `json:",inline"`
}

// NetworkType is the network section of a container policy.
type NetworkType struct {
	MatchProtocols  []MatchNetworkProtocolType `json:"matchProtocols,omitempty"`
	MatchDNSQueries []MatchDNSQueryType        `json:"matchDNSQueries,omitempty"`

	RuleMeta `json:",inline"`
}

// HostNetworkType is the network section of a host policy.
type HostNetworkType struct {
	MatchProtocols  []MatchHostNetworkProtocolType `json:"matchProtocols,omitempty"`
	MatchDNSQueries []MatchDNSQueryType            `json:"matchDNSQueries,omitempty"`

	RuleMeta `json:",inline"`
}

// MatchCapabilitiesType matches the use of a capability.
type MatchCapabilitiesType struct {
	Capability MatchCapabilitiesStringType `json:"capability"`
	// +optional
	FromSource []MatchSourceType `json:"fromSource,omitempty"`

	RuleMeta `json:",inline"`
}

// MatchHostCapabilitiesType is MatchCapabilitiesType for host policies,
// where fromSource is required.
type MatchHostCapabilitiesType struct {
	Capability MatchCapabilitiesStringType `json:"capability"`
	FromSource []MatchSourceType           `json:"fromSource"`

	RuleMeta `json:",inline"`
}

// CapabilitiesType is the capabilities section of a container policy.
type CapabilitiesType struct {
	MatchCapabilities []MatchCapabilitiesType `json:"matchCapabilities,omitempty"`

	RuleMeta `json:",inline"`
}

// HostCapabilitiesType is the capabilities section of a host policy.
type HostCapabilitiesType struct {
	MatchCapabilities []MatchHostCapabilitiesType `json:"matchCapabilities,omitempty"`

	RuleMeta `json:",inline"`
}

// SyscallFromSourceType is an acting executable ({path}) or a directory of
// them ({dir, recursive}).
type SyscallFromSourceType struct {
	Path MatchPathType `json:"path,omitempty"`
	// Dir is a directory; upstream does not validate its form.
	Dir       string `json:"dir,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
}

// SyscallMatchType audits syscalls by name.
type SyscallMatchType struct {
	Syscalls   []Syscall               `json:"syscall,omitempty"`
	FromSource []SyscallFromSourceType `json:"fromSource,omitempty"`
}

// SyscallMatchPathType audits syscalls by their target path.
type SyscallMatchPathType struct {
	Path       MatchSyscallPathType    `json:"path,omitempty"`
	Recursive  bool                    `json:"recursive,omitempty"`
	Syscalls   []Syscall               `json:"syscall,omitempty"`
	FromSource []SyscallFromSourceType `json:"fromSource,omitempty"`
}

// SyscallsType is the syscalls section of a policy (always Audit).
type SyscallsType struct {
	MatchSyscalls []SyscallMatchType     `json:"matchSyscalls,omitempty"`
	MatchPaths    []SyscallMatchPathType `json:"matchPaths,omitempty"`

	AlertMeta `json:",inline"`
}

// MatchDeviceType matches USB devices.
type MatchDeviceType struct {
	// Class is a class name (MASS-STORAGE, HID, ALL, ...) or number.
	Class string `json:"class"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	SubClass *int32 `json:"subClass,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	Protocol *int32 `json:"protocol,omitempty"`
	// Level is the number of hub hops (1 = directly attached).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Level *int32 `json:"level,omitempty"`

	RuleMeta `json:",inline"`
}

// DeviceType is the device section of a host policy.
type DeviceType struct {
	MatchDevice []MatchDeviceType `json:"matchDevice,omitempty"`

	RuleMeta `json:",inline"`
}
