package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	policypb "github.com/bulwark-security/bulwark/api/proto/policy"
	"github.com/bulwark-security/bulwark/internal/policy"
	"github.com/bulwark-security/bulwark/internal/server"
)

type applyOptions struct {
	files   []string
	lenient bool
	agent   agentFlags
}

// newApplyCommand returns `bulwark apply` (event ADDED) or `bulwark
// delete` (event DELETED).
func newApplyCommand(event string) *cobra.Command {
	var o applyOptions
	verb, past := "apply", "applied"
	if event == eventDeleted {
		verb, past = "delete", "deleted"
	}
	cmd := &cobra.Command{
		Use:   verb + " -f PATH...",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " policies on a bulwarkd agent over its PolicyService",
		Long: fmt.Sprintf(`%s sends every policy in the files (directories are searched for *.yaml, *.yml
and *.json; - is standard input) to bulwarkd's PolicyService, as karmor vm policy
%s does: KubeArmorPolicy and KubeArmorClusterPolicy to containerPolicy,
KubeArmorHostPolicy to hostPolicy, KubeArmorNetworkPolicy to networkPolicy.

The files are validated locally first; if any has an error nothing is sent and
the diagnostics are printed. One status line is printed per policy.

Exit status: 0 when every policy was %s, 1 when any was refused or the agent
could not be reached, 2 on a usage error.`, verb, map[string]string{"apply": "add", "delete": "delete"}[verb], past),
		Example: fmt.Sprintf(`  bulwark %s -f examples/host/
  bulwark %s -f hsp.yaml --gRPC unix:///run/bulwark/bulwarkd.sock`, verb, verb),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.files) == 0 {
				return usageError("%s needs -f PATH (use -f - for standard input)", cmd.CommandPath())
			}
			return runApply(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), event, o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.files, "file", "f", nil, "policy file or directory (repeatable; - for standard input)")
	cmd.Flags().BoolVar(&o.lenient, "lenient", false, "accept duplicate keys and unknown fields, as Kubernetes would")
	o.agent.register(cmd, 5*time.Second)
	_ = cmd.MarkFlagFilename("file", "yaml", "yml", "json")
	return cmd
}

const (
	eventAdded   = "ADDED"
	eventDeleted = "DELETED"
)

// policyObject is one policy as read from a file, ready to send.
type policyObject struct {
	kind, name string
	object     map[string]any
}

func (p policyObject) id() string { return p.kind + "/" + p.name }

func runApply(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, event string, o applyOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	objects, err := readPolicyObjects(stdin, stderr, o)
	if err != nil {
		return err
	}
	if len(objects) == 0 {
		fmt.Fprintln(stderr, "no policies found")
		return &ExitError{Code: ExitFailure}
	}
	conn, _, err := o.agent.dial()
	if err != nil {
		return usageError("%w", err)
	}
	defer conn.Close()
	client := policypb.NewPolicyServiceClient(conn)
	failed := 0
	for _, obj := range objects {
		st, reason, err := sendPolicy(ctx, client, event, obj, o.agent.timeout)
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(stdout, "%s: error: %s\n", obj.id(), err)
		case st == policypb.PolicyStatus_Applied, st == policypb.PolicyStatus_Modified, st == policypb.PolicyStatus_Deleted:
			fmt.Fprintf(stdout, "%s: %s\n", obj.id(), st)
		default:
			failed++
			fmt.Fprintf(stdout, "%s: %s", obj.id(), st)
			if reason != "" {
				fmt.Fprintf(stdout, ": %s", strings.ReplaceAll(reason, "\n", "\n    "))
			}
			fmt.Fprintln(stdout)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d of %d policies failed\n", failed, len(objects))
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

func sendPolicy(ctx context.Context, client policypb.PolicyServiceClient, event string, obj policyObject,
	timeout time.Duration) (policypb.PolicyStatus, string, error) {
	body, err := json.Marshal(map[string]any{"type": event, "object": obj.object})
	if err != nil {
		return policypb.PolicyStatus_Failure, "", fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := &policypb.Policy{Policy: body}
	var trailer metadata.MD
	var resp *policypb.Response
	switch policy.Kind(obj.kind) {
	case policy.KindHostPolicy:
		resp, err = client.HostPolicy(ctx, req, grpc.Trailer(&trailer))
	case policy.KindNetworkPolicy:
		resp, err = client.NetworkPolicy(ctx, req, grpc.Trailer(&trailer))
	default:
		resp, err = client.ContainerPolicy(ctx, req, grpc.Trailer(&trailer))
	}
	if err != nil {
		return policypb.PolicyStatus_Failure, "", err
	}
	return resp.GetStatus(), strings.Join(trailer.Get(server.PolicyErrorTrailer), "\n"), nil
}

// readPolicyObjects reads and validates the inputs. Invalid inputs are
// reported on stderr and nothing is returned.
func readPolicyObjects(stdin io.Reader, stderr io.Writer, o applyOptions) ([]policyObject, error) {
	var objects []policyObject
	invalid := 0
	for _, path := range o.files {
		inputs, err := expandInputs(path)
		if err != nil {
			return nil, usageError("%w", err)
		}
		for _, in := range inputs {
			data, err := readInput(in, stdin)
			if err != nil {
				return nil, usageError("%w", err)
			}
			res := policy.LoadBytes(in, data, policy.Options{Lenient: o.lenient})
			for _, d := range res.Diagnostics {
				if d.Severity == policy.SeverityError {
					fmt.Fprintln(stderr, d.String())
				}
			}
			if res.Errors() > 0 {
				invalid++
				continue
			}
			objs, err := splitObjects(data)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", in, err)
				invalid++
				continue
			}
			objects = append(objects, objs...)
		}
	}
	if invalid > 0 {
		fmt.Fprintf(stderr, "%d input(s) invalid: nothing sent\n", invalid)
		return nil, &ExitError{Code: ExitFailure}
	}
	return objects, nil
}

func expandInputs(path string) ([]string, error) {
	if path == "-" {
		return []string{"-"}, nil
	}
	return policy.Files(path)
}

func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(stdin, policy.DefaultMaxFileSize+1))
	}
	return os.ReadFile(name)
}

// splitObjects returns the KubeArmor objects of a validated input, in
// order: every document, the items of a kind: List or of a top-level
// sequence.
func splitObjects(data []byte) ([]policyObject, error) {
	var out []policyObject
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = appendObjects(out, v)
	}
}

func appendObjects(out []policyObject, v any) []policyObject {
	switch t := v.(type) {
	case []any:
		for _, it := range t {
			out = appendObjects(out, it)
		}
	case map[string]any:
		kind, _ := t["kind"].(string)
		if kind == "List" {
			items, _ := t["items"].([]any)
			return appendObjects(out, items)
		}
		switch policy.Kind(kind) {
		case policy.KindPolicy, policy.KindClusterPolicy, policy.KindHostPolicy, policy.KindNetworkPolicy:
			meta, _ := t["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			if ns, _ := meta["namespace"].(string); ns != "" {
				name = ns + "/" + name
			}
			out = append(out, policyObject{kind: kind, name: name, object: t})
		}
	}
	return out
}
