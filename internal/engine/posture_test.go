package engine

import (
	"testing"

	"github.com/bulwark-security/bulwark/internal/policy"
)

func TestResolvePostures(t *testing.T) {
	global := Postures{File: PostureAudit, Network: PostureBlock, Capabilities: PostureAudit}
	tests := []struct {
		name        string
		annotations map[string]string
		want        Postures
		warnings    int
	}{
		{"no annotations keep the global postures", nil, global, 0},
		{"annotations override", map[string]string{AnnotationFilePosture: "block", AnnotationNetworkPosture: "audit", AnnotationCapabilitiesPosture: "BLOCK"},
			Postures{File: PostureBlock, Network: PostureAudit, Capabilities: PostureBlock}, 0},
		{"invalid values keep the global value and warn", map[string]string{AnnotationFilePosture: "deny", AnnotationNetworkPosture: ""}, global, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := ResolvePostures(global, tt.annotations)
			if got != tt.want || len(warnings) != tt.warnings {
				t.Errorf("got %+v %q, want %+v and %d warnings", got, warnings, tt.want, tt.warnings)
			}
		})
	}
}

func TestPostureDefaultsToAudit(t *testing.T) {
	var p Postures
	for _, c := range []policy.Class{policy.ClassProcess, policy.ClassFile, policy.ClassNetwork, policy.ClassCapabilities} {
		if got := p.of(c); got != PostureAudit {
			t.Errorf("unset posture of %s = %s", c, got)
		}
	}
}

func TestParsePolicyMode(t *testing.T) {
	for in, want := range map[string]PolicyMode{"": PolicyEnabled, "enabled": PolicyEnabled, "Audited": PolicyAudited, "disabled": PolicyDisabled} {
		if got, err := ParsePolicyMode(in); err != nil || got != want {
			t.Errorf("ParsePolicyMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePolicyMode("patched"); err == nil {
		t.Error("ParsePolicyMode accepted an unknown mode")
	}
}

func TestCompileWarnsAndSkipsBadPatterns(t *testing.T) {
	rs := Compile([]*policy.Policy{ksp("p", filePattern("/etc/{a,b", block), at(filePath("/x", allow), 1))}, web)
	if len(rs.Warnings()) != 1 {
		t.Fatalf("Warnings = %q", rs.Warnings())
	}
	if d := rs.Decide(open("/etc/a", false)); d.Source != SourceDefaultPosture {
		t.Errorf("bad pattern still decides: %+v", d)
	}
	if !rs.AllowListed(policy.ClassProcess) || rs.AllowListed(policy.ClassNetwork) {
		t.Error("AllowListed is wrong")
	}
	if rs.Mode() != PolicyEnabled || len(rs.Policies()) != 1 || rs.Postures() != web.Postures {
		t.Error("accessors are wrong")
	}
	odd := web
	odd.PolicyMode = "patched"
	if rs := Compile(nil, odd); rs.Mode() != PolicyEnabled || len(rs.Warnings()) != 1 {
		t.Errorf("unknown mode: %s %q", rs.Mode(), rs.Warnings())
	}
}
