// Package e2e holds end-to-end tests of the real bulwarkd binary in the
// kernel lab (test/vm): it starts /usr/local/bin/bulwarkd in the guest on
// host policies of its own and checks BPF-LSM enforcement (the syscall's
// result) and the alerts (the log file and gRPC WatchAlerts). Its tests are
// tagged vmguest and run in the VM only: make test-vm.
package e2e
