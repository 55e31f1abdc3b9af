// Package selftest holds the guest tests that prove the kernel lab itself: the
// guest's LSMs, mounts, test user and cgroups, the project's commands, and
// AppArmor enforcement. Its tests are tagged vmguest and run in the VM only.
package selftest
