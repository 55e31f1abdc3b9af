package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/emptypb"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	bagent "github.com/bulwark-security/bulwark/internal/agent"
	"github.com/bulwark-security/bulwark/internal/probe"
)

// defaultAgentAddress is where bulwarkd's gRPC services listen by default.
const defaultAgentAddress = "localhost:32767"

type agentFlags struct {
	address string
	timeout time.Duration
}

func (f *agentFlags) register(cmd *cobra.Command, timeout time.Duration) {
	cmd.Flags().StringVar(&f.address, "gRPC", defaultAgentAddress, "bulwarkd gRPC address: HOST:PORT, :PORT or unix:///path")
	cmd.Flags().DurationVar(&f.timeout, "timeout", timeout, "timeout of the calls to bulwarkd")
}

// dial connects (lazily) to the agent.
func (f *agentFlags) dial() (*grpc.ClientConn, string, error) {
	target := f.address
	if strings.HasPrefix(target, ":") {
		target = "localhost" + target
	}
	if !strings.HasPrefix(target, "unix:") && !strings.Contains(target, "://") {
		target = "passthrough:///" + target
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", fmt.Errorf("agent address %q: %w", f.address, err)
	}
	return conn, f.address, nil
}

func newProbeCommand() *cobra.Command {
	var o probeOptions
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Show what this host supports and which enforcer bulwarkd would use",
		Long: `probe checks this host the way bulwarkd does at start: kernel, BTF, active LSMs
(mounting securityfs if needed), whether a BPF-LSM program actually loads (and the
errno when the kernel refuses it), AppArmor, SELinux, the cgroup layout, bpffs and
container runtime sockets. It then shows the enforcer bulwarkd would choose with
the default lsm order, and why every other candidate was rejected.

If bulwarkd is reachable (--gRPC), its ProbeService data is shown too. Run as root:
loading BPF programs and mounting securityfs need privileges.`,
		Example: `  bulwark probe
  bulwark probe -o json --gRPC unix:///run/bulwark/bulwarkd.sock`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "text" && o.output != "json" {
				return usageError("--output must be text or json, not %q", o.output)
			}
			return runProbe(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&o.noAgent, "no-agent", false, "do not contact bulwarkd")
	o.register(cmd, 2*time.Second)
	completeWords(cmd, "output", "text", "json")
	return cmd
}

type probeOptions struct {
	agentFlags
	output  string
	noAgent bool
}

// probeReport is the JSON form of `bulwark probe`.
type probeReport struct {
	Host     *probe.Report   `json:"host"`
	Enforcer probe.Choice    `json:"enforcer"`
	Agent    *agentProbeData `json:"agent,omitempty"`
}

type agentProbeData struct {
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Enforcer is the agent's active enforcer (BPFLSM, or eBPF Monitor).
	Enforcer string          `json:"enforcer,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`

	resp *policypb.ProbeResponse
}

func runProbe(ctx context.Context, w io.Writer, o probeOptions) error {
	r := probe.Host()
	implemented := bagent.DefaultEnforcers()
	rep := probeReport{Host: r, Enforcer: probe.Choose(r, probe.ChooseOptions{
		Implemented: func(n string) bool { _, ok := implemented[n]; return ok },
	})}
	if !o.noAgent {
		rep.Agent = queryAgent(ctx, o.agentFlags)
	}
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeProbeText(w, rep)
}

func queryAgent(ctx context.Context, f agentFlags) *agentProbeData {
	a := &agentProbeData{Address: f.address}
	conn, _, err := f.dial()
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer conn.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var hdr metadata.MD
	resp, err := policypb.NewProbeServiceClient(conn).GetProbeData(ctx, &emptypb.Empty{}, grpc.Header(&hdr))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	if v := hdr.Get(bagent.ProbeEnforcerHeader); len(v) > 0 {
		a.Enforcer = v[0]
	}
	a.Reachable, a.resp = true, resp
	a.Data, _ = protojson.Marshal(resp)
	return a
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func feature(f probe.Feature) string {
	if f.Available {
		return "available"
	}
	if f.Errno != "" {
		return fmt.Sprintf("unavailable (%s): %s", f.Errno, f.Reason)
	}
	return "unavailable: " + f.Reason
}

func writeProbeText(w io.Writer, rep probeReport) error {
	r := rep.Host
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	kernel := r.Kernel
	if r.Lockdown != "" {
		kernel += " (lockdown: " + r.Lockdown + ")"
	}
	sfs := "mounted"
	switch {
	case r.SecurityFS.MountedByProbe:
		sfs = "was not mounted; mounted by this probe at " + r.SecurityFS.Path
	case !r.SecurityFS.MountedAtStart:
		sfs = "not mounted: " + r.SecurityFS.Error
	}
	lsms := strings.Join(r.LSMs, ",")
	if lsms == "" {
		lsms = "unknown"
	}
	aa := feature(r.AppArmor.Feature)
	if r.AppArmor.Parser != "" {
		aa += " (apparmor_parser: " + r.AppArmor.Parser + ")"
	} else {
		aa += " (apparmor_parser: not installed)"
	}
	cg := r.Cgroup.Layout
	if r.Cgroup.V2Mount != "" {
		cg += " (v2 at " + r.Cgroup.V2Mount + ")"
	}
	bpffs := "not mounted at " + r.BPFFS.Path
	if r.BPFFS.Mounted {
		bpffs = "mounted at " + r.BPFFS.Path
	}
	var rts []string
	for _, rt := range r.Runtime {
		rts = append(rts, rt.Name+" ("+rt.Socket+")")
	}
	if len(rts) == 0 {
		rts = []string{"none found"}
	}
	fmt.Fprintln(tw, "Host")
	for _, row := range [][2]string{
		{"Kernel", kernel},
		{"BTF", yesNo(r.BTF.Present) + " (" + r.BTF.Path + ")"},
		{"securityfs", sfs},
		{"Active LSMs", lsms},
		{"BPF-LSM", feature(r.BPFLSM)},
		{"AppArmor", aa},
		{"SELinux", feature(r.SELinux)},
		{"cgroup", cg},
		{"bpffs", bpffs},
		{"Container runtimes", strings.Join(rts, ", ")},
	} {
		fmt.Fprintf(tw, "  %s:\t%s\n", row[0], row[1])
	}
	fmt.Fprintln(tw, "Enforcer")
	chosen := rep.Enforcer.Enforcer
	if chosen == probe.EnforcerNone {
		chosen = "none (monitor only: policies are audited, nothing is blocked)"
	}
	fmt.Fprintf(tw, "  %s:\t%s\n", "Chosen", chosen)
	for _, c := range rep.Enforcer.Candidates {
		state := "available"
		if !c.Available {
			state = "rejected: " + c.Reason
		}
		fmt.Fprintf(tw, "  %s:\t%s\n", c.Name, state)
	}
	if a := rep.Agent; a != nil {
		fmt.Fprintf(tw, "Agent (%s)\n", a.Address)
		if !a.Reachable {
			fmt.Fprintf(tw, "  %s:\t%s\n", "Not reachable", a.Error)
		} else {
			writeAgentProbe(tw, a)
		}
	}
	return tw.Flush()
}

func writeAgentProbe(w io.Writer, a *agentProbeData) {
	resp := a.resp
	if a.Enforcer != "" {
		fmt.Fprintf(w, "  Enforcer:\t%s\n", a.Enforcer)
	}
	hosts := slices.Sorted(maps.Keys(resp.GetHostMap()))
	for _, h := range hosts {
		fmt.Fprintf(w, "  Host policies on %s:\t%s\n", h, listOrNone(resp.GetHostMap()[h].GetPolicyList()))
	}
	for _, h := range slices.Sorted(maps.Keys(resp.GetNetworkMap())) {
		fmt.Fprintf(w, "  Network policies on %s:\t%s\n", h, listOrNone(resp.GetNetworkMap()[h].GetPolicyList()))
	}
	fmt.Fprintf(w, "  Containers:\t%s\n", listOrNone(resp.GetContainerList()))
	for _, c := range slices.Sorted(maps.Keys(resp.GetContainerMap())) {
		fmt.Fprintf(w, "  Policies of %s:\t%s\n", c, listOrNone(resp.GetContainerMap()[c].GetPolicyList()))
	}
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}
