package discover

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bulwark-security/bulwark/internal/identity"
	"github.com/bulwark-security/bulwark/internal/identity/cri"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want identity.Runtime
		ok   bool
	}{
		{"unix:///run/containerd/containerd.sock", identity.RuntimeContainerd, true},
		{"/run/k3s/containerd/containerd.sock", identity.RuntimeContainerd, true},
		{"unix:///var/run/docker.sock", identity.RuntimeDocker, true},
		{"/var/run/crio/crio.sock", identity.RuntimeCRIO, true},
		{"tcp://1.2.3.4:2375", "", false},
		{"/run/other.sock", "", false},
	} {
		got, err := Parse(tc.in)
		if (err == nil) != tc.ok || got.Runtime != tc.want {
			t.Errorf("Parse(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestDetectAndSources(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"/run/containerd/containerd.sock", "/var/run/docker.sock", "/run/crio/crio.sock"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("unix", full)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	// /var/run/containerd is the same directory as /run/containerd.
	if err := os.Symlink(filepath.Join(root, "run/containerd"), filepath.Join(root, "var/run/containerd")); err != nil {
		t.Fatal(err)
	}
	got := Detect(root)
	var runtimes []identity.Runtime
	for _, e := range got {
		runtimes = append(runtimes, e.Runtime)
	}
	if want := []identity.Runtime{identity.RuntimeDocker, identity.RuntimeContainerd, identity.RuntimeCRIO}; !slices.Equal(runtimes, want) {
		t.Fatalf("Detect = %+v, want one each of %v", got, want)
	}
	srcs, used, err := Sources(Config{Root: root})
	if err != nil || len(srcs) != 3 || !slices.Equal(used, got) {
		t.Fatalf("Sources: %d sources, %v, %v", len(srcs), used, err)
	}
	wantNames := []string{
		"docker:" + filepath.Join(root, "/var/run/docker.sock"),
		"containerd:" + filepath.Join(root, "/run/containerd/containerd.sock"),
		"cri-o:" + filepath.Join(root, "/run/crio/crio.sock"),
	}
	for i, s := range srcs {
		if s.Name() != wantNames[i] {
			t.Errorf("source %d: %s, want %s", i, s.Name(), wantNames[i])
		}
	}
	if _, ok := srcs[2].(*cri.Source); !ok {
		t.Errorf("CRI-O source is a %T, want *cri.Source", srcs[2])
	}
	srcs, _, err = Sources(Config{Sockets: []string{"unix:///run/containerd/containerd.sock", "unix:///var/run/crio/crio.sock"}})
	if err != nil || len(srcs) != 2 || srcs[1].Name() != "cri-o:/var/run/crio/crio.sock" {
		t.Errorf("explicit: %d sources, %v", len(srcs), err)
	}
	if _, _, err := Sources(Config{Sockets: []string{"/run/other.sock"}}); err == nil {
		t.Errorf("an unknown socket is accepted")
	}
}
