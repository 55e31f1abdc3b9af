package vm

import (
	"reflect"
	"slices"
	"testing"
)

func TestDiffTestFiles(t *testing.T) {
	const mod = "example.com/m"
	untagged := []byte("example.com/m/a\ta\texample.com/m\t/src/a\ta_test.go\n" +
		"example.com/m/b\tb\texample.com/m\t/src/b\t\n" +
		"example.com/m/c\tc\texample.com/m\t/src/c\tc_test.go\n")
	tagged := []byte("example.com/m/a\ta\texample.com/m\t/src/a\ta_test.go\n" +
		"example.com/m/b\tb\texample.com/m\t/src/b\tguest_test.go\n" +
		"example.com/m/c\tc\texample.com/m\t/src/c\tc_test.go,guest_test.go\n")
	want := []GuestPackage{
		{ImportPath: mod + "/b", Name: "b", Rel: "b", Dir: "/src/b"},
		{ImportPath: mod + "/c", Name: "c", Rel: "c", Dir: "/src/c"},
	}
	if got := diffTestFiles(tagged, untagged); !reflect.DeepEqual(got, want) {
		t.Errorf("diffTestFiles = %+v, want %+v", got, want)
	}
}

func TestCompareVersions(t *testing.T) {
	ks := []string{"vmlinuz-6.1.0-10-cloud-amd64", "vmlinuz-6.1.0-9-cloud-amd64", "vmlinuz-6.10.0-1-cloud-amd64"}
	slices.SortFunc(ks, compareVersions)
	want := []string{"vmlinuz-6.1.0-9-cloud-amd64", "vmlinuz-6.1.0-10-cloud-amd64", "vmlinuz-6.10.0-1-cloud-amd64"}
	if !slices.Equal(ks, want) {
		t.Errorf("sorted = %q, want %q", ks, want)
	}
}
