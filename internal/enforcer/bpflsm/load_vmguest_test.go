//go:build vmguest

package bpflsm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
)

func TestLoadsInGuest(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Logf("%+v", ve)
		}
		if b, rerr := os.ReadFile("/sys/kernel/btf/vmlinux"); rerr == nil {
			os.WriteFile(filepath.Join(t.ArtifactDir(), "vmlinux.btf"), b, 0o644)
		}
		t.Fatal(err)
	}
	t.Logf("usage %+v", e.Usage())
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
