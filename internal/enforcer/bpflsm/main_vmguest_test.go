//go:build vmguest

package bpflsm

import (
	"os"
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain(os.Getenv(helperEnv)))
	}
	guest.Main(m)
}
