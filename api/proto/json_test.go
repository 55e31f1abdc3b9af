package protoapi_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// kubeArmorAlertLine is an alert as KubeArmor writes it to stdout or its log
// file: Go's encoding/json of the generated struct, so keys are the proto
// field names, in declaration order, zero values omitted.
const kubeArmorAlertLine = `{"Timestamp":1700000000,"UpdatedTime":"2023-11-14T22:13:20.123456Z",` +
	`"ClusterName":"default","HostName":"node-1","NamespaceName":"web",` +
	`"Owner":{"Ref":"Deployment","Name":"nginx","Namespace":"web"},"PodName":"nginx-7c5ddbdf54-abcde",` +
	`"Labels":"app=nginx","ContainerID":"3f1c0e2b9a7d","ContainerName":"nginx",` +
	`"ContainerImage":"docker.io/library/nginx:1.27@sha256:0123abcd","HostPPID":4100,"HostPID":4242,` +
	`"PPID":1,"PID":37,"ParentProcessName":"/bin/bash","ProcessName":"/usr/bin/apt",` +
	`"PolicyName":"block-pkg-mgrs","Severity":"5","Tags":"NIST,CM-7","ATags":["NIST","CM-7"],` +
	`"Message":"package manager blocked","Type":"MatchedPolicy","Source":"/bin/bash","Operation":"Process",` +
	`"Resource":"/usr/bin/apt update","Data":"lsm=SECURITY_BPRM_CHECK","EventData":{"lsm":"SECURITY_BPRM_CHECK"},` +
	`"Enforcer":"BPFLSM","Action":"Block","Result":"Permission denied","Cwd":"/","TTY":"pts0",` +
	`"ExecEvent":{"ExecID":"8812345","ExecutableName":"bash"},"KubeArmorVersion":"bulwark-dev",` +
	`"NodeID":"0123456789abcdef0123456789abcdef"}`

func TestAlertEncodingJSONMatchesKubeArmorLines(t *testing.T) {
	got, err := json.Marshal(sampleAlert())
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if string(got) != kubeArmorAlertLine {
		t.Errorf("encoding/json of Alert:\n got %s\nwant %s", got, kubeArmorAlertLine)
	}

	var back feeder.Alert
	if err := json.Unmarshal([]byte(kubeArmorAlertLine), &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !proto.Equal(&back, sampleAlert()) {
		t.Errorf("encoding/json decode of a KubeArmor line = %v, want %v", &back, sampleAlert())
	}
}

func TestAlertProtoJSONUsesKubeArmorNames(t *testing.T) {
	full := fillAllFields(t, &feeder.Alert{})
	out, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(full)
	if err != nil {
		t.Fatalf("protojson: %v", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(out, &obj); err != nil {
		t.Fatalf("protojson output is not a JSON object: %v\n%s", err, out)
	}
	keys := slices.Sorted(maps.Keys(obj))
	var want []string
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		want = append(want, string(fields.Get(i).Name()))
	}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("protojson keys:\n got %v\nwant %v", keys, want)
	}
	for _, k := range []string{"Timestamp", "UpdatedTime", "HostName", "PolicyName", "Severity", "ATags",
		"EventData", "ExecEvent", "KubeArmorVersion", "HostPPID", "TTY", "UserName"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("protojson output lacks KubeArmor key %q", k)
		}
	}

	// A KubeArmor JSON line (int64 as a number) parses with protojson too,
	// as a shipper using protojson would read it.
	var back feeder.Alert
	if err := protojson.Unmarshal([]byte(kubeArmorAlertLine), &back); err != nil {
		t.Fatalf("protojson decode of a KubeArmor line: %v", err)
	}
	if !proto.Equal(&back, sampleAlert()) {
		t.Errorf("protojson decode = %v, want %v", &back, sampleAlert())
	}
}

// TestJSONTagsAreProtoNames checks every generated record struct: the
// encoding/json key of each field is its proto name, so JSON log lines keep
// KubeArmor's keys for Log and Message as well as Alert.
func TestJSONTagsAreProtoNames(t *testing.T) {
	for _, m := range []proto.Message{&feeder.Alert{}, &feeder.Log{}, &feeder.Message{},
		&feeder.Podowner{}, &feeder.ExecEvent{}} {
		md := m.ProtoReflect().Descriptor()
		typ := reflect.TypeOf(m).Elem()
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			sf, ok := typ.FieldByName(string(fd.Name()))
			if !ok {
				t.Errorf("%s: no Go field %s", md.Name(), fd.Name())
				continue
			}
			if got, want := sf.Tag.Get("json"), string(fd.Name())+",omitempty"; got != want {
				t.Errorf("%s.%s: json tag %q, want %q", md.Name(), fd.Name(), got, want)
			}
		}
	}
}

// fillAllFields sets every field of m (recursively one level for messages) to
// a non-zero value, so that no key is omitted from JSON output. It handles the
// shapes Alert has: scalars, string lists and maps, all-string submessages.
func fillAllFields[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			r.Mutable(fd).Map().Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString("v"))
		case fd.IsList():
			r.Mutable(fd).List().Append(protoreflect.ValueOfString("v"))
		case fd.Kind() == protoreflect.MessageKind:
			sub := r.Mutable(fd).Message()
			subFields := sub.Descriptor().Fields()
			for j := range subFields.Len() {
				sub.Set(subFields.Get(j), protoreflect.ValueOfString("v"))
			}
		case fd.Kind() == protoreflect.StringKind:
			r.Set(fd, protoreflect.ValueOfString("v"))
		case fd.Kind() == protoreflect.Int32Kind:
			r.Set(fd, protoreflect.ValueOfInt32(1))
		case fd.Kind() == protoreflect.Int64Kind:
			r.Set(fd, protoreflect.ValueOfInt64(1))
		default:
			t.Fatalf("fillAllFields: unhandled field %s (%v)", fd.FullName(), fd.Kind())
		}
	}
	return m
}
