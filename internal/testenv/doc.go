// Package testenv starts a private containerd for tests, with its own root,
// state, socket and config, imports a busybox image built on the fly from
// /bin/busybox, runs containers with runc, and removes everything again
// (tasks, containers, snapshots, mounts, cgroups, the daemon) in
// t.Cleanup, even when the test fails. It never touches a containerd on
// the default socket. StartDocker does the same for a private dockerd
// (on a private containerd), never the host's Docker. StartCRI enables the
// private containerd's CRI plugin, so tests can run pods through the
// Kubernetes CRI as kubelet does with CRI-O.
//
// It is test-only code: import it from _test.go files only (the identity
// sources' tests and the agent's end-to-end container tests).
package testenv
