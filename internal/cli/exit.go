package cli

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes shared by every command.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and found a problem (invalid policy, ...)
	ExitUsage   = 2 // the command line itself is wrong
)

// ExitError carries a process exit code through cobra's error return.
// A nil Err means the command already printed what it had to say.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks err as a command-line mistake (exit code 2).
func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to a process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}

// Run executes the bulwark command line and returns its exit code. Errors
// are printed to stderr unless the command already reported them.
func Run(args []string, stdout, stderr io.Writer) int {
	root := New(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee *ExitError
	if err != nil && (!errors.As(err, &ee) || ee.Err != nil) {
		fmt.Fprintln(stderr, "bulwark:", err)
	}
	return ExitCode(err)
}
