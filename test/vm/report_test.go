package vm

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

// testdata/fail.out is the output of a test binary run with -test.v=test2json,
// as the guest sends it: TestPass logs and passes, TestFail/broken fails,
// TestSkip skips.
func TestBuildTreeFromTest2JSON(t *testing.T) {
	out, err := os.ReadFile("testdata/fail.out")
	if err != nil {
		t.Fatal(err)
	}
	events, err := Test2JSON(t.Context(), "example.com/sample", out)
	if err != nil {
		t.Fatal(err)
	}
	root := buildTree(events)
	var got []string
	var walk func(prefix string, n *testNode)
	walk = func(prefix string, n *testNode) {
		for _, c := range n.children {
			got = append(got, prefix+c.name+" "+c.action)
			walk(prefix+c.name+"/", c)
		}
	}
	walk("", root)
	want := []string{"TestPass pass", "TestFail fail", "TestFail/ok pass", "TestFail/broken fail", "TestSkip skip"}
	if !slices.Equal(got, want) {
		t.Errorf("tree = %q, want %q", got, want)
	}
	if pass := root.children[0]; !slices.Equal(pass.output, []string{"    s_test.go:5: hello from the guest\n"}) {
		t.Errorf("TestPass output = %q, want its log line only", pass.output)
	}

	// A binary that died within a test leaves it without a result.
	cut := out[:bytes.Index(out, []byte("want 1, got 2"))]
	if events, err = Test2JSON(t.Context(), "example.com/sample", cut); err != nil {
		t.Fatal(err)
	}
	if broken := buildTree(events).children[1].children[1]; broken.action != "" {
		t.Errorf("cut-short TestFail/broken action = %q, want none", broken.action)
	}
}
