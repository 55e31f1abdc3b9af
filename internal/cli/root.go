// Package cli builds the `bulwark` command tree.
package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

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
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "bulwark", version.String())
			return err
		},
	}
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
