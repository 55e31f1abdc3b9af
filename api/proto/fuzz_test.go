package protoapi_test

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/api/proto/policy"
)

// fuzzTargets are the messages a Bulwark peer decodes from the network.
var fuzzTargets = []func() proto.Message{
	func() proto.Message { return &feeder.Alert{} },
	func() proto.Message { return &feeder.Log{} },
	func() proto.Message { return &feeder.Message{} },
	func() proto.Message { return &feeder.RequestMessage{} },
	func() proto.Message { return &policy.Policy{} },
	func() proto.Message { return &policy.Response{} },
	func() proto.Message { return &policy.ProbeResponse{} },
}

// FuzzUnmarshal feeds arbitrary bytes to proto.Unmarshal for each target.
// Decoding may fail but must not panic; whatever decodes must survive a binary
// round trip unchanged, and (unknown fields aside) a protojson round trip too.
// Alert and Log must also survive encoding/json, the JSON log line format.
func FuzzUnmarshal(f *testing.F) {
	for _, m := range []proto.Message{sampleAlert(), sampleLog(), sampleProbe(),
		&policy.Policy{Policy: []byte(`{"type":"ADDED","object":{}}`)},
		&policy.Response{Status: policy.PolicyStatus_NotEnabled}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatalf("seed: %v", err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}) // length beyond the input
	f.Add([]byte{0xda, 0x02, 0x02, 0x0a, 0x00})       // EventData (field 43) entry, empty key

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, newMsg := range fuzzTargets {
			m := newMsg()
			if proto.Unmarshal(data, m) != nil {
				continue
			}
			name := m.ProtoReflect().Descriptor().FullName()

			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("%s: re-marshal of a decoded message: %v", name, err)
			}
			again := newMsg()
			if err := proto.Unmarshal(b, again); err != nil {
				t.Fatalf("%s: decode of our own encoding: %v", name, err)
			}
			if !proto.Equal(m, again) {
				t.Fatalf("%s: binary round trip changed the message:\n%v\n%v", name, m, again)
			}

			known := newMsg()
			if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, known); err != nil {
				t.Fatalf("%s: decode without unknown fields: %v", name, err)
			}
			js, err := protojson.Marshal(known)
			if err != nil {
				t.Fatalf("%s: protojson marshal: %v", name, err)
			}
			fromJSON := newMsg()
			if err := protojson.Unmarshal(js, fromJSON); err != nil {
				t.Fatalf("%s: protojson unmarshal of %s: %v", name, js, err)
			}
			if !proto.Equal(known, fromJSON) {
				t.Fatalf("%s: protojson round trip changed the message:\n%v\n%v", name, known, fromJSON)
			}

			switch known.(type) {
			case *feeder.Alert, *feeder.Log:
				line, err := json.Marshal(known)
				if err != nil {
					t.Fatalf("%s: encoding/json marshal: %v", name, err)
				}
				fromLine := newMsg()
				if err := json.Unmarshal(line, fromLine); err != nil {
					t.Fatalf("%s: encoding/json unmarshal of %s: %v", name, line, err)
				}
				if !proto.Equal(known, fromLine) {
					t.Fatalf("%s: encoding/json round trip changed the message:\n%v\n%v", name, known, fromLine)
				}
			}
		}
	})
}
