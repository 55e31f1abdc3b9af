package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bulwark-security/bulwark/internal/engine"
	"github.com/bulwark-security/bulwark/internal/policy"
)

type explainOptions struct {
	files   []string
	lenient bool
	output  string

	// The workload.
	host       bool
	hostname   string
	nodeLabels map[string]string
	namespace  string
	labels     map[string]string
	container  string
	standalone bool
	mode       string
	postures   engine.Postures

	// The operation.
	op engine.Operation
}

func newExplainCommand() *cobra.Command {
	o := explainOptions{postures: engine.Postures{
		File: engine.PostureAudit, Network: engine.PostureAudit, Capabilities: engine.PostureAudit,
	}}
	cmd := &cobra.Command{
		Use:   "explain -f PATH... (--host | --namespace NS [--labels k=v,...] [--container NAME]) --op KIND [operation flags]",
		Short: "Show what policies decide for one operation of one workload, and why",
		Long: `explain compiles the policies that select one workload — the host (--host), or a
container (--namespace, --labels, --container) — and decides one operation
against them with Bulwark's decision engine, the same semantics every
enforcer implements. It prints the action (Allow, Audit, Block, or
Audit (Block) / Audit (Allow) for an audited workload), whether it comes from
a policy rule or from the default posture, and the rule's provenance.

Operations (--op) and their flags:
  process       --path EXECUTABLE [--source PARENT-EXE] [--uid N --owner N] [--tty] [--args A,B]
  file          --path FILE [--write] [--source EXE] [--uid N --owner N]
  network       --protocol tcp|udp|icmp|icmpv6|raw|sctp and/or --socket-type stream|dgram|raw|...  [--source EXE]
  capabilities  --capability NAME [--source EXE]
  syscall       --syscall NAME [--path TARGET] [--source EXE]

An operation no policy speaks about is Allow with source "none".`,
		Example: `  # May bash start /usr/bin/apt in an nginx pod?
  bulwark policy explain -f policies/ --namespace default --labels app=nginx \
      --op process --path /usr/bin/apt --source /bin/bash

  # Does a write to /etc/shadow by cat on this host pass, with block posture?
  bulwark policy explain -f host-policies/ --host --file-posture block \
      --op file --path /etc/shadow --write --source /usr/bin/cat -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd.Flags()); err != nil {
				return err
			}
			return runExplain(cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.InOrStdin(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "file", "f", nil, "policy files or directories (repeatable; - for standard input)")
	f.BoolVar(&o.lenient, "lenient", false, "accept policies with duplicate keys or unknown fields, as Kubernetes would")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")

	f.BoolVar(&o.host, "host", false, "the workload is this host (host policies apply)")
	f.StringVar(&o.hostname, "hostname", "", "host name for host-policy node selectors (default: this machine's)")
	f.StringToStringVar(&o.nodeLabels, "node-labels", nil, "Kubernetes node labels k=v,... (default: standalone host, identified by its hostname only)")
	f.StringVar(&o.namespace, "namespace", "", "the container's namespace")
	f.StringToStringVar(&o.labels, "labels", nil, "the container's (pod's) labels k=v,...")
	f.StringVar(&o.container, "container", "", "the container's name")
	f.BoolVar(&o.standalone, "standalone", false, "outside Kubernetes: kubearmor.io/container.name is a regular expression")
	f.StringVar(&o.mode, "policy-mode", "enabled", "the workload's kubearmor-policy mode: enabled, disabled or audited")
	f.Var(postureFlag{&o.postures.File}, "file-posture", "default posture of the file/process class: audit or block")
	f.Var(postureFlag{&o.postures.Network}, "network-posture", "default posture of the network class: audit or block")
	f.Var(postureFlag{&o.postures.Capabilities}, "capabilities-posture", "default posture of the capabilities class: audit or block")

	f.StringVar((*string)(&o.op.Kind), "op", "", "operation kind: process, file, network, capabilities or syscall")
	f.StringVar(&o.op.Path, "path", "", "executable (process), file (file) or target (syscall)")
	f.StringVar(&o.op.Source, "source", "", "acting executable: the parent's for process, the process's own otherwise")
	f.BoolVar(&o.op.Write, "write", false, "the file is opened for writing")
	f.Uint32Var(&o.op.UID, "uid", 0, "the acting user's uid")
	f.Uint32Var(&o.op.Owner, "owner", 0, "the uid owning --path (for ownerOnly rules)")
	f.BoolVar(&o.op.TTY, "tty", false, "the acting process has a controlling terminal")
	f.StringSliceVar(&o.op.Args, "args", nil, "exec arguments after argv[0]")
	f.StringVar(&o.op.Protocol, "protocol", "", "socket protocol: tcp, udp, icmp, icmpv6, raw, sctp")
	f.StringVar(&o.op.SocketType, "socket-type", "", "socket type: stream, dgram, raw, seqpacket, rdm, packet, dccp")
	f.StringVar(&o.op.Capability, "capability", "", "capability name (net_raw or CAP_NET_RAW)")
	f.StringVar(&o.op.Syscall, "syscall", "", "syscall name")

	_ = cmd.MarkFlagFilename("file", "yaml", "yml", "json")
	completeWords(cmd, "op", "process", "file", "network", "capabilities", "syscall")
	completeWords(cmd, "policy-mode", "enabled", "disabled", "audited")
	completeWords(cmd, "protocol", "tcp", "udp", "icmp", "icmpv6", "raw", "sctp", "all")
	completeWords(cmd, "socket-type", "stream", "dgram", "raw", "seqpacket", "rdm", "packet", "dccp")
	for _, name := range []string{"file-posture", "network-posture", "capabilities-posture"} {
		completeWords(cmd, name, "audit", "block")
	}
	completeWords(cmd, "output", "text", "json")
	return cmd
}

// postureFlag parses an audit|block posture flag.
type postureFlag struct{ p *engine.Posture }

func (f postureFlag) String() string {
	if f.p == nil {
		return ""
	}
	return string(*f.p)
}

func (f postureFlag) Set(s string) error {
	switch p := engine.Posture(strings.ToLower(s)); p {
	case engine.PostureAudit, engine.PostureBlock:
		*f.p = p
		return nil
	}
	return fmt.Errorf("posture must be audit or block, not %q", s)
}

func (postureFlag) Type() string { return "audit|block" }

// complete checks the flag combination and fills defaults.
func (o *explainOptions) complete(flags *pflag.FlagSet) error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output must be text or json, not %q", o.output)
	}
	if len(o.files) == 0 {
		return usageError("give the policies with -f PATH (a file, a directory, or - for standard input)")
	}
	if o.host == (o.namespace != "") {
		return usageError("give either --host or --namespace (a container), not both or neither")
	}
	if !o.host && (flags.Changed("hostname") || flags.Changed("node-labels")) {
		return usageError("--hostname and --node-labels describe a host: add --host")
	}
	if o.host && (flags.Changed("labels") || flags.Changed("container")) {
		return usageError("--labels and --container describe a container: use --namespace instead of --host")
	}
	if _, err := engine.ParsePolicyMode(o.mode); err != nil {
		return usageError("--policy-mode: %w", err)
	}
	o.op.OwnerKnown = flags.Changed("owner")
	if o.host && o.hostname == "" {
		name, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("hostname: %w (give --hostname)", err)
		}
		o.hostname = name
	}
	return o.checkOperation()
}

// checkOperation insists on the flags each operation kind needs.
func (o *explainOptions) checkOperation() error {
	op := &o.op
	var missing string
	switch op.Kind {
	case engine.OpProcess, engine.OpFile:
		if op.Path == "" {
			missing = "--path"
		}
	case engine.OpNetwork:
		if op.Protocol == "" && op.SocketType == "" {
			missing = "--protocol or --socket-type"
		}
	case engine.OpCapabilities:
		if op.Capability == "" {
			missing = "--capability"
		}
	case engine.OpSyscall:
		if op.Syscall == "" {
			missing = "--syscall"
		}
	case "":
		return usageError("give the operation with --op process|file|network|capabilities|syscall")
	default:
		return usageError("--op must be process, file, network, capabilities or syscall, not %q", op.Kind)
	}
	if missing != "" {
		return usageError("--op %s needs %s", op.Kind, missing)
	}
	return nil
}

func (o *explainOptions) workload() engine.Workload {
	mode, _ := engine.ParsePolicyMode(o.mode) // checked in complete
	w := engine.Workload{PolicyMode: mode, Postures: o.postures}
	if o.host {
		w.Host = true
		w.Hostname = o.hostname
		w.NodeLabels = o.nodeLabels
		w.Standalone = o.nodeLabels == nil
		return w
	}
	w.Namespace = o.namespace
	w.Labels = o.labels
	w.ContainerName = o.container
	w.Standalone = o.standalone
	return w
}

// explainReport is the JSON form of an explain run.
type explainReport struct {
	engine.Decision
	Workload  engine.Workload  `json:"workload"`
	Operation engine.Operation `json:"operation"`
	Policies  []string         `json:"selectedPolicies"`
}

func runExplain(stdout, stderr io.Writer, stdin io.Reader, o explainOptions) error {
	res, err := policy.LoadPaths(o.files, policy.Options{Lenient: o.lenient, Stdin: stdin})
	if err != nil {
		return usageError("%w", err)
	}
	if res.Errors() > 0 {
		for _, d := range res.Diagnostics {
			if d.Severity == policy.SeverityError {
				fmt.Fprintln(stderr, d.String())
			}
		}
		return fmt.Errorf("%d errors in the policies: fix them or validate with 'bulwark policy validate'", res.Errors())
	}
	w := o.workload()
	rs := engine.Compile(res.Policies, w)
	for _, warning := range rs.Warnings() {
		fmt.Fprintln(stderr, "warning:", warning)
	}
	rep := explainReport{Decision: rs.Decide(o.op), Workload: w, Operation: o.op, Policies: []string{}}
	for _, p := range rs.Policies() {
		rep.Policies = append(rep.Policies, policyID(p))
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeExplainText(stdout, rep)
}

// policyID names a policy as kind/namespace/name (no namespace for
// cluster-scoped kinds).
func policyID(p *policy.Policy) string {
	if p.Namespace == "" {
		return string(p.Kind) + "/" + p.Name
	}
	return string(p.Kind) + "/" + p.Namespace + "/" + p.Name
}

func writeExplainText(w io.Writer, rep explainReport) error {
	d := rep.Decision
	var b strings.Builder
	fmt.Fprintf(&b, "action:     %s\n", d.Action)
	fmt.Fprintf(&b, "source:     %s\n", d.Source)
	if d.PolicyName != "" {
		fmt.Fprintf(&b, "policy:     %s\n", d.PolicyName)
	}
	if r := d.Rule; r != nil {
		fmt.Fprintf(&b, "rule:       %s[%d]", r.Section, r.Index)
		if r.Location.File != "" {
			fmt.Fprintf(&b, " at %s:%d:%d", r.Location.File, r.Location.Line, r.Location.Column)
		}
		fmt.Fprintf(&b, "\nmatcher:    %s\n", d.Matcher)
	}
	if d.FromSource != "" {
		fmt.Fprintf(&b, "fromSource: %s\n", d.FromSource)
	}
	if d.Severity != 0 {
		fmt.Fprintf(&b, "severity:   %d\n", d.Severity)
	}
	if len(d.Tags) > 0 {
		fmt.Fprintf(&b, "tags:       %s\n", strings.Join(d.Tags, ","))
	}
	if d.Message != "" {
		fmt.Fprintf(&b, "message:    %s\n", d.Message)
	}
	fmt.Fprintf(&b, "alert:      %t\n", d.Alert)
	fmt.Fprintf(&b, "reason:     %s\n", d.Reason)
	fmt.Fprintf(&b, "selected:   %d policies", len(rep.Policies))
	if len(rep.Policies) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(rep.Policies, ", "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
