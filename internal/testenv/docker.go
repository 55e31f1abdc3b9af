package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Docker is a private Docker Engine: a dockerd with its own data root,
// exec root, pidfile, socket and config, running its containers on a
// private containerd (never the host's, which dockerd would otherwise pick
// up from /run/containerd/containerd.sock).
type Docker struct {
	// Address is the Engine API's unix socket; Dir holds the data root,
	// exec root, config and log.
	Address, Dir string
	// Containerd runs the containers (in its "moby" namespace).
	Containerd *Containerd
	// CgroupParent is the cgroup every container is created in, as
	// /<CgroupParent>/<id> in each hierarchy (cgroupfs driver).
	CgroupParent string

	t    testing.TB
	cli  string // docker CLI
	proc *daemon
}

// StartDocker starts dockerd on a private containerd (StartContainerd). It
// fails the test when dockerd or the docker CLI is not installed. The
// daemon, its containers, mounts and cgroups are removed in t.Cleanup.
func StartDocker(t testing.TB) *Docker {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatalf("dockerd not found: run hack/install-deps.sh (apt-get install -y docker.io): %v", err)
	}
	cli, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("docker CLI not found: run hack/install-deps.sh (apt-get install -y docker.io): %v", err)
	}
	// Before the dockerd cleanup is registered, so it runs after it.
	cd := StartContainerd(t)
	// Short: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "bwdk")
	if err != nil {
		t.Fatal(err)
	}
	d := &Docker{
		Address: filepath.Join(dir, "d.sock"), Dir: dir, Containerd: cd,
		// Unique on the host: cgroups are shared by every daemon.
		CgroupParent: "bwdk-" + RandomHex(4),
		t:            t, cli: cli,
	}
	d.proc = &daemon{
		t: t, name: "dockerd", address: d.Address, args: d.args(),
		logFile: filepath.Join(dir, "dockerd.log"),
		answers: d.answers, startTimeout: 30 * time.Second,
		stopGrace: 20 * time.Second,
	}
	// Its own config: the host's /etc/docker/daemon.json must not apply,
	// and dockerd would write its trust key to /etc/docker/key.json.
	config := fmt.Sprintf("{%q: %q}\n", "deprecated-key-path", filepath.Join(dir, "key.json"))
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cleanup)
	d.proc.start()
	return d
}

func (d *Docker) args() []string {
	return []string{
		"--config-file", filepath.Join(d.Dir, "daemon.json"),
		"--data-root", filepath.Join(d.Dir, "data"),
		"--exec-root", filepath.Join(d.Dir, "exec"),
		"--pidfile", filepath.Join(d.Dir, "dockerd.pid"),
		"--host", "unix://" + d.Address,
		"--containerd", d.Containerd.Address,
		// No networking beyond --network none, and no host firewall changes.
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"--exec-opt", "native.cgroupdriver=cgroupfs",
		"--cgroup-parent", "/" + d.CgroupParent,
		// Containers outlive a daemon restart, as in production.
		"--live-restore",
	}
}

// answers reports whether dockerd's API answers its ping.
func (d *Docker) answers() bool {
	ping := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "unix", d.Address)
		},
	}}
	defer ping.CloseIdleConnections()
	resp, err := ping.Get("http://docker/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop terminates dockerd; with live restore the containers keep running.
func (d *Docker) Stop() {
	d.proc.stop()
}

// Restart stops and starts dockerd on the same roots and socket; it
// restores the containers that kept running.
func (d *Docker) Restart() {
	d.t.Helper()
	d.proc.restart()
}

// Log returns dockerd's log.
func (d *Docker) Log() string {
	return d.proc.log()
}

// Command returns the docker CLI with args, talking to this daemon only.
func (d *Docker) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.cli, append([]string{"--host", "unix://" + d.Address}, args...)...)
	// The CLI's own config (contexts, credentials) stays private too.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(d.Dir, "cli"))
	return cmd
}

// CLI runs the docker CLI with args and returns its trimmed output; it
// fails the test when the command fails.
func (d *Docker) CLI(args ...string) string {
	d.t.Helper()
	out, err := d.run(nil, args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

func (d *Docker) run(stdin []byte, args ...string) (string, error) {
	cmd := d.Command(args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out)), nil
}

// LoadBusybox loads the busybox image (BusyboxArchive) tagged ref and
// returns its image id ("sha256:...").
func (d *Docker) LoadBusybox(ref string) string {
	d.t.Helper()
	archive, err := BusyboxArchive(ref)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.run(archive, "load", "--quiet"); err != nil {
		d.t.Fatal(err)
	}
	return d.CLI("image", "inspect", "--format", "{{.Id}}", ref)
}

// DockerRunOptions describe a container to run.
type DockerRunOptions struct {
	Labels map[string]string
	// Args replace the image's idle command.
	Args []string
}

// Run starts a detached container called name from image, without a
// network, and returns its id.
func (d *Docker) Run(name, image string, o DockerRunOptions) string {
	d.t.Helper()
	args := []string{"run", "--detach", "--network", "none", "--name", name}
	for k, v := range o.Labels {
		args = append(args, "--label", k+"="+v)
	}
	args = append(args, image)
	return d.CLI(append(args, o.Args...)...)
}

// Pid returns the host pid of container id's init process (0 when it is
// not running).
func (d *Docker) Pid(id string) uint32 {
	d.t.Helper()
	out := d.CLI("inspect", "--format", "{{.State.Pid}}", id)
	pid, err := strconv.ParseUint(out, 10, 32)
	if err != nil {
		d.t.Fatalf("pid of container %s: %q: %v", id, out, err)
	}
	return uint32(pid)
}

// cleanup removes every container, stops dockerd, unmounts what is left
// under Dir, removes the containers' cgroup parent and Dir. The private
// containerd's own cleanup runs afterwards and reaps any task left.
func (d *Docker) cleanup() {
	if d.t.Failed() {
		d.t.Logf("dockerd log:\n%s", d.Log())
	}
	// Also when a step below fails the test: nothing may stay running or
	// mounted.
	defer func() {
		d.Stop()
		unmountUnder(d.Dir)
		removeCgroups(d.CgroupParent)
		if err := os.RemoveAll(d.Dir); err != nil {
			d.t.Errorf("remove %s: %v", d.Dir, err)
		}
	}()
	if !d.proc.running() {
		d.proc.stop()  // reap a daemon that died
		d.proc.start() // to remove what the test left after stopping it
	}
	if ids, err := d.run(nil, "ps", "--all", "--quiet"); err != nil {
		d.t.Errorf("cleanup: %v", err)
	} else if ids != "" {
		if _, err := d.run(nil, append([]string{"rm", "--force", "--volumes"}, strings.Fields(ids)...)...); err != nil {
			d.t.Errorf("cleanup: %v", err)
		}
	}
}
