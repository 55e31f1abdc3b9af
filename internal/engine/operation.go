package engine

import (
	"strings"

	"github.com/bulwark-security/bulwark/internal/policy"
)

// OpKind is the kind of operation being decided.
type OpKind string

// Operation kinds.
const (
	OpProcess      OpKind = "process"      // exec of Path
	OpFile         OpKind = "file"         // open of Path, for writing when Write
	OpNetwork      OpKind = "network"      // socket of Protocol and/or SocketType
	OpCapabilities OpKind = "capabilities" // use of Capability
	OpSyscall      OpKind = "syscall"      // Syscall, with optional target Path
)

// Operation is one event to decide.
type Operation struct {
	Kind OpKind `json:"kind"`
	// Path is the executable (process), the file (file) or the syscall's
	// target (syscall).
	Path string `json:"path,omitempty"`
	// Source is the acting executable: the parent's executable for a
	// process operation, the process's own executable otherwise.
	Source string `json:"source,omitempty"`
	// UID is the acting user; Owner the owner of Path, meaningful only when
	// OwnerKnown is set.
	UID        uint32 `json:"uid"`
	Owner      uint32 `json:"owner"`
	OwnerKnown bool   `json:"ownerKnown,omitempty"`
	// TTY is set when the acting process has a controlling terminal.
	TTY bool `json:"tty,omitempty"`
	// Args are the arguments after argv[0] of an exec.
	Args []string `json:"args,omitempty"`
	// Write is set when a file is opened for writing or appending.
	Write bool `json:"write,omitempty"`
	// Protocol (tcp, udp, icmp, icmpv6, raw, sctp) and SocketType (stream,
	// dgram, raw, seqpacket, rdm, packet, dccp) of a socket; either or both.
	Protocol   string `json:"protocol,omitempty"`
	SocketType string `json:"socketType,omitempty"`
	// Capability is a capability name, with or without "cap_", any case.
	Capability string `json:"capability,omitempty"`
	// Syscall is a syscall name.
	Syscall string `json:"syscall,omitempty"`
}

// isOwner reports whether the actor owns Path; an unknown owner is never the
// actor.
func (op *Operation) isOwner() bool { return op.OwnerKnown && op.UID == op.Owner }

// class returns the rule class that speaks about op, and false for an
// unknown kind.
func (k OpKind) class() (policy.Class, bool) {
	switch k {
	case OpProcess:
		return policy.ClassProcess, true
	case OpFile:
		return policy.ClassFile, true
	case OpNetwork:
		return policy.ClassNetwork, true
	case OpCapabilities:
		return policy.ClassCapabilities, true
	case OpSyscall:
		return policy.ClassSyscalls, true
	}
	return "", false
}

// normalizeName lowercases s, allocating only when s has upper case.
func normalizeName(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normalizeCapability turns "CAP_NET_RAW" into "net_raw".
func normalizeCapability(s string) string {
	return strings.TrimPrefix(normalizeName(s), "cap_")
}
