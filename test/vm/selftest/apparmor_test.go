//go:build vmguest

package selftest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

const apparmorProfiles = "/sys/kernel/security/apparmor/profiles"

// TestAppArmorDeniesRead loads a profile for a copy of busybox made by the test,
// which denies it one file, and checks the denial and its scope.
func TestAppArmorDeniesRead(t *testing.T) {
	dir := t.TempDir()
	cat := filepath.Join(dir, "cat") // busybox runs the applet named by argv[0]
	guest.CopyFile(t, "/bin/busybox", cat, 0o755)
	secret, public := filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	for _, f := range []string{secret, public} {
		if err := os.WriteFile(f, []byte("content of "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := "bulwark-selftest-" + filepath.Base(dir)
	profile := filepath.Join(dir, "profile")
	text := fmt.Sprintf("profile %s %s {\n  file,\n  deny %s r,\n}\n", name, cat, secret)
	if err := os.WriteFile(profile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	if out, err := exec.Command("apparmor_parser", "-r", "-W", profile).CombinedOutput(); err != nil {
		t.Fatalf("apparmor_parser -r -W: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("apparmor_parser", "-R", profile).CombinedOutput(); err != nil {
			t.Errorf("apparmor_parser -R: %v: %s", err, out)
		}
		if loaded(t, name) != "" {
			t.Errorf("profile %s still loaded after removal", name)
		}
	})
	if mode := loaded(t, name); mode != "enforce" {
		t.Fatalf("profile %s mode = %q in %s, want enforce", name, mode, apparmorProfiles)
	}

	out, err := exec.Command(cat, secret).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("confined read of the denied file: err=%v output=%q, want EACCES (Permission denied)", err, out)
	}
	if out, err := exec.Command(cat, public).CombinedOutput(); err != nil {
		t.Errorf("confined read of another file: %v: %s", err, out)
	}
	if out, err := exec.Command("/bin/cat", secret).CombinedOutput(); err != nil {
		t.Errorf("unconfined read of the denied file: %v: %s", err, out)
	}
}

// loaded returns the mode of the loaded profile name ("enforce", "complain"),
// or "" when it is not loaded.
func loaded(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(apparmorProfiles)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if p, mode, ok := strings.Cut(strings.TrimSpace(line), " ("); ok && p == name {
			return strings.TrimSuffix(mode, ")")
		}
	}
	return ""
}
