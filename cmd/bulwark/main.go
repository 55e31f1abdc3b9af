// Command bulwark is Bulwark's command-line interface.
package main

import (
	"os"

	"github.com/bulwark-security/bulwark/internal/cli"
)

func main() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) }
