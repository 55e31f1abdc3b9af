package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestEvent is one event of `go tool test2json` (see cmd/test2json); fields not
// needed for replay are left out.
type TestEvent struct {
	Action string
	Test   string
	Output string
}

// Test2JSON turns the verbose output of a test binary of package pkg into
// events, with `go tool test2json`.
func Test2JSON(ctx context.Context, pkg string, output []byte) ([]TestEvent, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "test2json", "-p", pkg)
	cmd.Stdin = bytes.NewReader(output)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool test2json: %w: %s", err, stderr.String())
	}
	return decodeEvents(bytes.NewReader(out))
}

func decodeEvents(r io.Reader) ([]TestEvent, error) {
	var events []TestEvent
	dec := json.NewDecoder(r)
	for {
		var e TestEvent
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode test2json: %w", err)
		}
		events = append(events, e)
	}
}

// Replay reports a guest test binary's events as subtests of t, nested as in
// the guest, each with its output and failed or skipped as it was there. t
// fails when the binary failed without a failing test (a panic, a timeout, a
// TestMain exit) or did not end, with the binary's own output.
func Replay(t *testing.T, events []TestEvent, jr JobResult) {
	root := buildTree(events)
	writeOutput(t, root)
	for _, c := range root.children {
		t.Run(c.name, func(t *testing.T) { replayTest(t, c) })
	}
	if jr.Error != "" {
		t.Errorf("guest: %s", jr.Error)
	}
	if jr.Exit != 0 && !t.Failed() {
		t.Errorf("guest test binary exited with status %d", jr.Exit)
	}
	if jr.Artifacts != "" {
		t.Logf("artifacts in %s", jr.Artifacts)
	}
}

func replayTest(t *testing.T, n *testNode) {
	writeOutput(t, n)
	for _, c := range n.children {
		t.Run(c.name, func(t *testing.T) { replayTest(t, c) })
	}
	switch n.action {
	case "pass":
	case "fail":
		t.Fail()
	case "skip":
		t.SkipNow()
	default:
		t.Error("no result from the guest: the test binary crashed, hung or was killed (see the package's output)")
	}
}

func writeOutput(t *testing.T, n *testNode) {
	for _, line := range n.output {
		io.WriteString(t.Output(), line)
	}
}

// testNode is a package (the root) or a test in the tree of a binary's events.
type testNode struct {
	name     string
	action   string   // pass, fail, skip; "" while it has not ended
	output   []string // lines, without the framing lines of `go test -v`
	children []*testNode
}

func (n *testNode) child(name string) *testNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	c := &testNode{name: name}
	n.children = append(n.children, c)
	return c
}

func buildTree(events []TestEvent) *testNode {
	root := &testNode{}
	for _, e := range events {
		n := root
		if e.Test != "" {
			for seg := range strings.SplitSeq(e.Test, "/") {
				n = n.child(seg)
			}
		}
		switch e.Action {
		case "output":
			if !isFraming(e.Output) {
				n.output = append(n.output, e.Output)
			}
		case "pass", "fail", "skip":
			n.action = e.Action
		}
	}
	return root
}

// isFraming tells whether line is one of the lines with which `go test -v`
// frames tests and packages; the host's own testing prints its own.
func isFraming(line string) bool {
	if line == "PASS\n" || line == "FAIL\n" {
		return true
	}
	line = strings.TrimLeft(line, " ")
	for _, p := range []string{"=== RUN ", "=== PAUSE ", "=== CONT ", "=== NAME ", "=== ARTIFACTS ",
		"--- PASS: ", "--- FAIL: ", "--- SKIP: "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}
