//go:build vmguest

package lsmprobe

import (
	"testing"

	"github.com/bulwark-security/bulwark/test/vm/guest"
)

func TestMain(m *testing.M) { guest.Main(m) }
