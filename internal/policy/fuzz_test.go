package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoadBytes(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, lenient bool) {
		res := LoadBytes("fuzz.yaml", data, Options{Lenient: lenient})
		if res.Errors() > 0 && len(res.Policies) > 0 && len(res.Diagnostics) == 0 {
			t.Fatal("inconsistent result")
		}
		for _, p := range res.Policies {
			for _, r := range p.Rules {
				if r.Action == "" {
					t.Fatalf("rule without action: %+v", r)
				}
			}
		}
	})
}
