// Command bulwark is Bulwark's command-line interface.
package main

import (
	"fmt"

	"github.com/bulwark-security/bulwark/internal/version"
)

func main() { fmt.Println("bulwark", version.String()) }
