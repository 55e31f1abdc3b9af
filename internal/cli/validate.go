package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bulwark-security/bulwark/internal/policy"
)

type validateOptions struct {
	lenient bool
	output  string
	root    string
}

func newValidateCommand() *cobra.Command {
	var o validateOptions
	cmd := &cobra.Command{
		Use:   "validate [flags] PATH...",
		Short: "Check policies against KubeArmor's schema and Bulwark's lint rules",
		Long: `validate reads KubeArmor policies from files, directories (recursively) or
standard input ("-"), checks them against the security.kubearmor.com/v1 schema and
lints them. Problems are printed as FILE:LINE:COL: FIELD: severity: message.

Duplicate mapping keys and unknown fields are errors: other tools silently drop
the rules they hide. --lenient reports them as warnings and accepts exactly what
a Kubernetes API server with KubeArmor's CRDs would accept.

Exit status: 0 when every policy is valid (warnings allowed), 1 when any error
was found, 2 on a usage error.`,
		Example: `  bulwark policy validate policies/
  bulwark policy validate --lenient -o json host-policy.yaml
  kubectl get ksp -A -o yaml | bulwark policy validate -`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("%s needs at least one PATH (use - for standard input)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.output != "text" && o.output != "json" {
				return usageError("--output must be text or json, not %q", o.output)
			}
			return runValidate(cmd.InOrStdin(), cmd.OutOrStdout(), args, o)
		},
	}
	cmd.Flags().BoolVar(&o.lenient, "lenient", false, "report duplicate keys and unknown fields as warnings, as Kubernetes would accept them")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.root, "root", "", "resolve policy paths under this root directory to warn about symlinked targets")
	_ = cmd.MarkFlagDirname("root")
	completeWords(cmd, "output", "text", "json")
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

// validateReport is the JSON form of a validate run.
type validateReport struct {
	Files       int                 `json:"files"`
	Policies    int                 `json:"policies"`
	Errors      int                 `json:"errors"`
	Warnings    int                 `json:"warnings"`
	Diagnostics []policy.Diagnostic `json:"diagnostics"`
}

func runValidate(stdin io.Reader, stdout io.Writer, paths []string, o validateOptions) error {
	res, err := policy.LoadPaths(paths, policy.Options{Lenient: o.lenient, Root: o.root, Stdin: stdin})
	if err != nil {
		return usageError("%w", err)
	}
	rep := validateReport{
		Files:       res.Files,
		Policies:    len(res.Policies),
		Errors:      res.Errors(),
		Warnings:    res.Warnings(),
		Diagnostics: res.Diagnostics,
	}
	if rep.Diagnostics == nil {
		rep.Diagnostics = []policy.Diagnostic{}
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(rep)
	} else {
		err = writeValidateText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if rep.Errors > 0 {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}

func writeValidateText(w io.Writer, rep validateReport) error {
	for _, d := range rep.Diagnostics {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d files, %d policies, %d errors, %d warnings\n",
		rep.Files, rep.Policies, rep.Errors, rep.Warnings)
	return err
}
