package protoapi_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/api/proto/policy"
)

// The expectations below are the KubeArmor wire facts recorded in
// shared/reference/wire-protocol.md (upstream protobuf/*.proto at 510cee31),
// written in that document's notation: "number:name (type)" per field, in
// upstream declaration order. Each generated descriptor is rendered in the same
// notation and compared, so a renamed, renumbered, retyped, reordered, added or
// dropped field fails the test.

type wireFile struct {
	file     protoreflect.FileDescriptor
	pkg      string
	services map[string][]string // service -> "rpc(req) returns (resp)", in order
	enums    map[string]string   // enum -> "Name=0, ..."
	messages map[string]string   // message -> "1:name (type), ..."
}

var wireFiles = []wireFile{
	{
		file: feeder.File_feeder_feeder_proto,
		pkg:  "feeder",
		services: map[string][]string{
			"LogService": {
				"HealthCheck(NonceMessage) returns (ReplyMessage)",
				"WatchMessages(RequestMessage) returns (stream Message)",
				"WatchAlerts(RequestMessage) returns (stream Alert)",
				"WatchLogs(RequestMessage) returns (stream Log)",
			},
		},
		messages: map[string]string{
			"NonceMessage": "1:nonce (int32)",
			"Message":      "1:Timestamp (int64), 2:UpdatedTime (string), 3:ClusterName (string), 4:HostName (string), 5:HostIP (string), 6:Type (string), 7:Level (string), 8:Message (string)",
			"Podowner":     "1:Ref (string), 2:Name (string), 3:Namespace (string)",
			"ExecEvent":    "1:ExecID (string), 2:ExecutableName (string)",
			"Alert": "1:Timestamp (int64), 2:UpdatedTime (string), 3:ClusterName (string), 4:HostName (string), " +
				"5:NamespaceName (string), 31:Owner (Podowner), 6:PodName (string), 29:Labels (string), " +
				"7:ContainerID (string), 8:ContainerName (string), 24:ContainerImage (string), " +
				"27:HostPPID (int32), 9:HostPID (int32), 10:PPID (int32), 11:PID (int32), 12:UID (int32), " +
				"25:ParentProcessName (string), 26:ProcessName (string), " +
				"13:PolicyName (string), 14:Severity (string), 15:Tags (string), 30:ATags (repeated string), " +
				"16:Message (string), 17:Type (string), 18:Source (string), 19:Operation (string), " +
				"20:Resource (string), 21:Data (string), 43:EventData (map<string,string>), " +
				"28:Enforcer (string), 22:Action (string), 23:Result (string), 32:Cwd (string), 33:TTY (string), " +
				"34:MaxAlertsPerSec (int32), 35:DroppingAlertsInterval (int32), 36:ExecEvent (ExecEvent), " +
				"37:KubeArmorVersion (string), 38:NodeID (string), 39:ProcessHash (string), 40:ParentHash (string), " +
				"41:ResourceHash (string), 42:HashAlgo (string), 44:UserName (string)",
			"Log": "1:Timestamp (int64), 2:UpdatedTime (string), 3:ClusterName (string), 4:HostName (string), " +
				"5:NamespaceName (string), 24:Owner (Podowner), 6:PodName (string), 23:Labels (string), " +
				"7:ContainerID (string), 8:ContainerName (string), 19:ContainerImage (string), " +
				"20:ParentProcessName (string), 21:ProcessName (string), " +
				"22:HostPPID (int32), 9:HostPID (int32), 10:PPID (int32), 11:PID (int32), 12:UID (int32), " +
				"13:Type (string), 14:Source (string), 15:Operation (string), 16:Resource (string), " +
				"17:Data (string), 33:EventData (map<string,string>), 18:Result (string), 25:Cwd (string), " +
				"26:TTY (string), 27:ExecEvent (ExecEvent), 28:NodeID (string), 29:ProcessHash (string), " +
				"30:ParentHash (string), 31:ResourceHash (string), 32:HashAlgo (string), 34:UserName (string)",
			"RequestMessage": "1:Filter (string)",
			"ReplyMessage":   "1:Retval (int32)",
		},
	},
	{
		file: policy.File_policy_policy_proto,
		pkg:  "policy",
		services: map[string][]string{
			"ProbeService": {
				"getProbeData(google.protobuf.Empty) returns (ProbeResponse)",
			},
			"PolicyService": {
				"containerPolicy(policy) returns (response)",
				"hostPolicy(policy) returns (response)",
				"networkPolicy(policy) returns (response)",
			},
		},
		enums: map[string]string{
			"PolicyStatus": "Failure=0, Applied=1, Deleted=2, Modified=3, NotExist=4, Invalid=5, NotEnabled=6",
		},
		messages: map[string]string{
			"response":                "1:status (PolicyStatus)",
			"policy":                  "1:policy (bytes)",
			"ContainerData":           "1:policyList (repeated string), 2:policyEnabled (int32), 3:policyDataList (repeated policy)",
			"HostSecurityPolicies":    "1:policyList (repeated string), 2:policyDataList (repeated policy)",
			"NetworkSecurityPolicies": "1:policyList (repeated string), 2:policyDataList (repeated policy)",
			"ProbeResponse": "1:containerList (repeated string), 2:containerMap (map<string,ContainerData>), " +
				"3:hostMap (map<string,HostSecurityPolicies>), 4:networkMap (map<string,NetworkSecurityPolicies>)",
		},
	},
}

func TestWireMatchesKubeArmor(t *testing.T) {
	for _, wf := range wireFiles {
		t.Run(wf.pkg, func(t *testing.T) {
			if got := string(wf.file.Package()); got != wf.pkg {
				t.Fatalf("proto package = %q, want %q", got, wf.pkg)
			}
			if got := wf.file.Syntax(); got != protoreflect.Proto3 {
				t.Errorf("syntax = %v, want proto3", got)
			}
			compareDecls(t, "message", renderAll(wf.file.Messages(), renderFields), splitSpecs(wf.messages))
			compareDecls(t, "enum", renderAll(wf.file.Enums(), renderValues), splitSpecs(wf.enums))
			compareDecls(t, "service", renderAll(wf.file.Services(), renderMethods), wf.services)

			msgs := wf.file.Messages()
			for i := range msgs.Len() {
				fields := msgs.Get(i).Fields()
				for j := range fields.Len() {
					if fd := fields.Get(j); fd.HasOptionalKeyword() || fd.ContainingOneof() != nil {
						t.Errorf("%s: upstream has neither optional nor oneof", fd.FullName())
					}
				}
			}
		})
	}
}

// compareDecls checks that got and want declare the same names, each with the
// same members in the same order.
func compareDecls(t *testing.T, kind string, got, want map[string][]string) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("%ss = %v, want %v", kind, g, w)
	}
	for name, w := range want {
		g, ok := got[name]
		if ok && !slices.Equal(g, w) {
			t.Errorf("%s %s: %s\n got: %s\nwant: %s", kind, name, firstDiff(g, w),
				strings.Join(g, ", "), strings.Join(w, ", "))
		}
	}
}

func splitSpecs(specs map[string]string) map[string][]string {
	out := make(map[string][]string, len(specs))
	for name, spec := range specs {
		out[name] = strings.Split(spec, ", ")
	}
	return out
}

// descriptorList is the shape shared by protoreflect's descriptor lists.
type descriptorList[D protoreflect.Descriptor] interface {
	Len() int
	Get(i int) D
}

// renderAll renders every declaration in list, keyed by its short name.
func renderAll[D protoreflect.Descriptor](list descriptorList[D], render func(D) []string) map[string][]string {
	out := make(map[string][]string, list.Len())
	for i := range list.Len() {
		d := list.Get(i)
		out[string(d.Name())] = render(d)
	}
	return out
}

// TestFullMethodNames pins the gRPC paths clients put on the wire.
func TestFullMethodNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{feeder.LogService_HealthCheck_FullMethodName, "/feeder.LogService/HealthCheck"},
		{feeder.LogService_WatchMessages_FullMethodName, "/feeder.LogService/WatchMessages"},
		{feeder.LogService_WatchAlerts_FullMethodName, "/feeder.LogService/WatchAlerts"},
		{feeder.LogService_WatchLogs_FullMethodName, "/feeder.LogService/WatchLogs"},
		{policy.PolicyService_ContainerPolicy_FullMethodName, "/policy.PolicyService/containerPolicy"},
		{policy.PolicyService_HostPolicy_FullMethodName, "/policy.PolicyService/hostPolicy"},
		{policy.PolicyService_NetworkPolicy_FullMethodName, "/policy.PolicyService/networkPolicy"},
		{policy.ProbeService_GetProbeData_FullMethodName, "/policy.ProbeService/getProbeData"},
		{feeder.LogService_ServiceDesc.ServiceName, "feeder.LogService"},
		{policy.PolicyService_ServiceDesc.ServiceName, "policy.PolicyService"},
		{policy.ProbeService_ServiceDesc.ServiceName, "policy.ProbeService"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// renderFields writes md's fields, in declaration order, in the notation of
// wire-protocol.md.
func renderFields(md protoreflect.MessageDescriptor) []string {
	var out []string
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		out = append(out, fmt.Sprintf("%d:%s (%s)", fd.Number(), fd.Name(), renderType(fd)))
	}
	return out
}

func renderType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s,%s>", renderKind(fd.MapKey()), renderKind(fd.MapValue()))
	case fd.IsList():
		return "repeated " + renderKind(fd)
	default:
		return renderKind(fd)
	}
}

// renderKind names fd's element type: the scalar kind, or the message or enum
// name (short when it lives in the same proto package).
func renderKind(fd protoreflect.FieldDescriptor) string {
	var full protoreflect.FullName
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		full = fd.Message().FullName()
	case protoreflect.EnumKind:
		full = fd.Enum().FullName()
	default:
		return fd.Kind().String() // "int32", "sint32", "fixed64", ... so any wire-type change shows
	}
	return shortName(fd.ParentFile().Package(), full)
}

// renderValues writes ed's values as "Name=number".
func renderValues(ed protoreflect.EnumDescriptor) []string {
	var out []string
	values := ed.Values()
	for i := range values.Len() {
		v := values.Get(i)
		out = append(out, fmt.Sprintf("%s=%d", v.Name(), v.Number()))
	}
	return out
}

// renderMethods writes sd's rpcs as "Name(Req) returns (stream Resp)".
func renderMethods(sd protoreflect.ServiceDescriptor) []string {
	var out []string
	methods := sd.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		pkg := m.ParentFile().Package()
		in, resp := shortName(pkg, m.Input().FullName()), shortName(pkg, m.Output().FullName())
		if m.IsStreamingClient() {
			in = "stream " + in
		}
		if m.IsStreamingServer() {
			resp = "stream " + resp
		}
		out = append(out, fmt.Sprintf("%s(%s) returns (%s)", m.Name(), in, resp))
	}
	return out
}

// firstDiff describes the first position where got and want differ.
func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("item %d is %q, want %q", i+1, got[i], want[i])
		}
	}
	return fmt.Sprintf("%d items, want %d", len(got), len(want))
}

func shortName(pkg, full protoreflect.FullName) string {
	if full.Parent() == pkg {
		return string(full.Name())
	}
	return string(full)
}
