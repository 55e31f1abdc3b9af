package probe

import (
	"fmt"
	"slices"
	"strings"
)

// Enforcer names as used in the lsm preference list.
const (
	EnforcerBPF      = "bpf"
	EnforcerAppArmor = "apparmor"
	EnforcerSELinux  = "selinux"
	EnforcerNone     = "none"
)

// DefaultPreference is KubeArmor's default lsm order.
var DefaultPreference = []string{EnforcerBPF, EnforcerAppArmor, EnforcerSELinux}

// ChooseOptions configure Choose. The zero value follows
// DefaultPreference and considers every enforcer implemented.
type ChooseOptions struct {
	// Preference is the lsm order; nil means DefaultPreference, empty
	// means no enforcer.
	Preference []string
	// Override is the enforcer key: "" or auto follows Preference; bpf or
	// apparmor consider only that one; none chooses none.
	Override string
	// Implemented, when set, reports whether this build has an enforcer
	// for a name; others are rejected with "not implemented in this build".
	Implemented func(name string) bool
}

// Candidate is one enforcer that was considered.
type Candidate struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
}

// Choice is the enforcer picked for a host.
type Choice struct {
	// Enforcer is bpf, apparmor, selinux or none.
	Enforcer string `json:"enforcer"`
	// Reason explains the choice; for none, why nothing else was usable.
	Reason     string      `json:"reason"`
	Candidates []Candidate `json:"candidates"`
}

// Choose picks the first available enforcer in preference order.
func Choose(r *Report, opts ChooseOptions) Choice {
	pref := opts.Preference
	if pref == nil {
		pref = DefaultPreference
	}
	switch strings.ToLower(opts.Override) {
	case "", "auto":
	case EnforcerNone:
		return Choice{Enforcer: EnforcerNone, Reason: "enforcer: none in the configuration (monitor only)"}
	default:
		pref = []string{strings.ToLower(opts.Override)}
	}
	var ch Choice
	for _, name := range pref {
		if slices.ContainsFunc(ch.Candidates, func(c Candidate) bool { return c.Name == name }) {
			continue
		}
		c := Candidate{Name: name}
		switch name {
		case EnforcerBPF:
			c.Available, c.Reason = r.BPFLSM.Available, r.BPFLSM.Reason
		case EnforcerAppArmor:
			c.Available, c.Reason = r.AppArmor.Available, r.AppArmor.Reason
		case EnforcerSELinux:
			c.Available, c.Reason = r.SELinux.Available, r.SELinux.Reason
		default:
			c.Reason = "unknown enforcer"
		}
		if c.Available && opts.Implemented != nil && !opts.Implemented(name) {
			c.Available, c.Reason = false, "supported by the kernel but not implemented in this build"
		}
		ch.Candidates = append(ch.Candidates, c)
		if c.Available && ch.Enforcer == "" {
			ch.Enforcer = name
			ch.Reason = fmt.Sprintf("%s is the first available enforcer in the lsm preference %s", name, strings.Join(pref, ","))
		}
	}
	if ch.Enforcer != "" {
		return ch
	}
	ch.Enforcer = EnforcerNone
	if len(ch.Candidates) == 0 {
		ch.Reason = "the lsm preference is empty (monitor only)"
		return ch
	}
	var why []string
	for _, c := range ch.Candidates {
		why = append(why, c.Name+": "+c.Reason)
	}
	ch.Reason = "no enforcer available (monitor only): " + strings.Join(why, "; ")
	return ch
}
