//go:build vmguest

package selftest

import (
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func TestMain(m *testing.M) { guest.Main(m) }
