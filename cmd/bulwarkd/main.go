// Command bulwarkd is Bulwark's node agent.
package main

import (
	"fmt"
	"os"

	"github.com/bulwark-security/bulwark/internal/version"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "version" || os.Args[1] == "--version") {
		fmt.Println("bulwarkd", version.String())
		return
	}
	fmt.Println("bulwarkd", version.String())
}
