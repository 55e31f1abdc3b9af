package vm

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeRecords(t *testing.T) {
	stream := `{"Ready":true,"UptimeMS":3000}
{"Job":"a","Output":"line 1\n"}
{"Job":"a","File":"x/alerts.json","Data":"e30="}
{"Job":"a","Exit":0}
{"Job":"b","Output":"hung\n"}
{"Job":"b","Outp`
	dir := t.TempDir()
	res, done, err := decodeRecords(bufio.NewReader(strings.NewReader(stream)), dir)
	if err != nil {
		t.Fatal(err)
	}
	if done {
		t.Error("done without a Done record")
	}
	if res.Boot.Seconds() != 3 || len(res.Jobs) != 2 {
		t.Fatalf("result = %+v, want boot 3s and jobs a and b", res)
	}
	if a := res.Jobs[0]; a.Name != "a" || a.Exit != 0 || string(a.Output) != "line 1\n" || a.Artifacts == "" {
		t.Errorf("job a = %+v", a)
	}
	if b := res.Jobs[1]; b.Name != "b" || b.Exit != -1 || string(b.Output) != "hung\n" {
		t.Errorf("job b, cut short = %+v, want exit -1 with its output", b)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "a", "artifacts", "x", "alerts.json")); err != nil || string(got) != "{}" {
		t.Errorf("artifact = %q, %v", got, err)
	}
}

func TestDecodeRecordsRejectsEscapingArtifacts(t *testing.T) {
	stream := `{"Job":"a","File":"../../../escape","Data":"e30="}` + "\n"
	if _, _, err := decodeRecords(bufio.NewReader(strings.NewReader(stream)), t.TempDir()); err == nil {
		t.Error("an artifact path out of the run directory was accepted")
	}
}
