// Command vmshell boots the kernel lab's guest (see package vm) for debugging:
// an interactive root shell on the terminal, or with -c one script whose
// output it prints and whose exit status it returns.
//
//	go run ./test/vm/cmd/vmshell                 # shell; exit powers off, Ctrl-A X quits qemu
//	go run ./test/vm/cmd/vmshell -c 'cat /sys/kernel/security/lsm'
//	go run ./test/vm/cmd/vmshell -console -timeout 1m -c 'dmesg | tail'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	vm "github.com/bulwark-security/bulwark/test/vm"
)

func main() {
	script := flag.String("c", "", "run this shell script in the guest instead of an interactive shell")
	console := flag.Bool("console", false, "with -c, copy the guest's serial console to stderr")
	timeout := flag.Duration("timeout", 0, "with -c, kill the VM after this long (default: the lab's)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	opts := vm.Options{Timeout: *timeout}
	if *console {
		opts.Console = os.Stderr
	}
	code, err := run(ctx, opts, *script)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmshell:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, opts vm.Options, script string) (int, error) {
	l, err := vm.New(ctx, opts)
	if err != nil {
		return 1, err
	}
	defer l.Close()
	if script == "" {
		return 0, l.Shell(ctx)
	}
	res, err := l.RunScript(ctx, script)
	if res != nil {
		os.Stdout.Write(res.Output)
		if res.Error != "" {
			fmt.Fprintln(os.Stderr, "vmshell:", res.Error)
		}
	}
	if err != nil {
		return 1, err
	}
	return res.Exit, nil
}
