package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bulwark-security/bulwark/internal/config"
	"github.com/bulwark-security/bulwark/internal/version"
)

// Exit codes of bulwarkd.
const (
	ExitOK      = 0
	ExitFailure = 1 // the agent failed while running
	ExitConfig  = 2 // bad command line or configuration: nothing was loaded
)

const usage = `Usage: bulwarkd [--config FILE] [--policy-dir DIR] [--KEY=VALUE ...]
       bulwarkd version | --version
       bulwarkd --check [--config FILE] [...]

bulwarkd is Bulwark's node agent (host mode). Configuration precedence:
flags > BULWARK_<KEY> environment variables > the --config file > defaults.
Flags are the configuration keys:
`

// MainOptions are the process-level inputs of Main, so tests can run the
// whole daemon in-process.
type MainOptions struct {
	Args    []string // without the program name
	Environ []string
	Stdout  io.Writer
	Stderr  io.Writer
	// NoSignal disables SIGHUP handling (in-process tests).
	NoSignal bool
	// Ready, when set, is called with the agent once it runs.
	Ready func(*Agent)
}

// Main is bulwarkd's main function: it parses the command line, loads and
// validates the configuration (exiting with ExitConfig before anything is
// loaded into the kernel when it is invalid) and runs the agent until ctx
// is done. It returns the exit code.
func Main(ctx context.Context, o MainOptions) int {
	if len(o.Args) > 0 && o.Args[0] == "version" {
		fmt.Fprintln(o.Stdout, "bulwarkd", version.String())
		return ExitOK
	}
	fs := pflag.NewFlagSet("bulwarkd", pflag.ContinueOnError)
	fs.SetOutput(o.Stderr)
	file := fs.String("config", "", "YAML configuration file")
	showVersion := fs.Bool("version", false, "print the version and exit")
	check := fs.Bool("check", false, "validate the configuration and exit")
	logFormat := fs.String("log-format", "text", "daemon log format: text or json")
	config.RegisterFlags(fs)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprint(o.Stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(o.Args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return ExitOK
		}
		return ExitConfig
	}
	if *showVersion {
		fmt.Fprintln(o.Stdout, "bulwarkd", version.String())
		return ExitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(o.Stderr, "bulwarkd: unexpected argument %q\n", fs.Arg(0))
		return ExitConfig
	}
	if *logFormat != "text" && *logFormat != "json" {
		fmt.Fprintf(o.Stderr, "bulwarkd: --log-format must be text or json, not %q\n", *logFormat)
		return ExitConfig
	}
	load := config.Options{File: *file, Flags: fs, Environ: o.Environ}
	cfg, err := config.Load(load)
	if err != nil {
		fmt.Fprintln(o.Stderr, "bulwarkd: invalid configuration:")
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintln(o.Stderr, "  "+line)
		}
		return ExitConfig
	}
	if *check {
		for _, w := range cfg.Warnings {
			fmt.Fprintln(o.Stderr, "warning:", w)
		}
		fmt.Fprintln(o.Stdout, "configuration OK")
		return ExitOK
	}
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(o.Stderr, hopts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(o.Stderr, hopts)
	}
	log := slog.New(h)
	a, err := New(Options{Config: cfg, Load: load, Logger: log, NoSignal: o.NoSignal,
		Components: DefaultComponents})
	if err != nil {
		log.Error("bulwarkd failed", "error", err)
		return ExitFailure
	}
	if o.Ready != nil {
		go func() {
			select {
			case <-a.Ready():
				o.Ready(a)
			case <-ctx.Done():
			}
		}()
	}
	if err := a.Start(ctx); err != nil {
		log.Error("bulwarkd failed", "error", err)
		return ExitFailure
	}
	return ExitOK
}
