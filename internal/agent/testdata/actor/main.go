// Command actor is the agent tests' subject: it does one thing the test's
// policies speak about. "actor" exits 0; "actor read PATH" opens PATH for
// reading; "actor write PATH" opens PATH for writing (failing on a
// directory). Open errors are ignored: the result is in the telemetry.
package main

import "os"

func main() {
	if len(os.Args) < 3 {
		return
	}
	flag := os.O_RDONLY
	if os.Args[1] == "write" {
		flag = os.O_WRONLY
	}
	if f, err := os.OpenFile(os.Args[2], flag, 0); err == nil {
		f.Close()
	}
}
