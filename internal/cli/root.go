// Package cli builds the `bulwark` command tree.
package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/server"
	"github.com/bulwark-security/bulwark/internal/version"
)

// New returns the root `bulwark` command writing to stdout and stderr.
func New(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "bulwark",
		Short: "Bulwark: KubeArmor-compatible runtime security for Linux workloads",
		Long: `bulwark validates, explains and applies KubeArmor policies
(security.kubearmor.com/v1) and talks to the bulwarkd agent.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// A bare `bulwark` prints help; unknown subcommands are usage errors.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())
	})
	root.AddCommand(newPolicyCommand(), newVersionCommand())
	root.AddCommand(newLogsCommand())
	root.AddCommand(newProbeCommand())
	root.AddCommand(newApplyCommand(eventAdded), newApplyCommand(eventDeleted))
	return root
}

func newVersionCommand() *cobra.Command {
	var agent agentFlags
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the versions of the CLI and of the reachable bulwarkd",
		Long: `version prints the CLI's version, then asks bulwarkd (--gRPC) for its own.
An agent that cannot be reached is reported, not an error.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, "bulwark ", version.String())
			v, err := agentVersion(cmd.Context(), &agent)
			if err != nil {
				_, err = fmt.Fprintf(out, "bulwarkd not reachable at %s: %v\n", agent.address, err)
				return err
			}
			_, err = fmt.Fprintln(out, "bulwarkd", v)
			return err
		},
	}
	agent.register(cmd, 2*time.Second)
	return cmd
}

// agentVersion asks the agent for its version: every response of bulwarkd
// carries it in a header, and HealthCheck is the cheapest call.
func agentVersion(ctx context.Context, agent *agentFlags) (string, error) {
	conn, _, err := agent.dial()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, agent.timeout)
	defer cancel()
	var hdr metadata.MD
	if _, err := feeder.NewLogServiceClient(conn).HealthCheck(ctx, &feeder.NonceMessage{Nonce: 1}, grpc.Header(&hdr)); err != nil {
		return "", err
	}
	if v := hdr.Get(server.VersionHeader); len(v) > 0 {
		return v[0], nil
	}
	return "unknown (not a Bulwark agent?)", nil
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("%s takes no arguments, got %s", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

// completeWords offers a fixed list of values when completing flag name.
func completeWords(cmd *cobra.Command, name string, words ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
}
