// Package version reports the build version of Bulwark's binaries.
package version

import "runtime/debug"

// Version is set at link time (-ldflags "-X ...version.Version=v1.2.3").
var Version = "dev"

// String returns the version with the VCS revision when the build recorded one.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return Version + "+" + s.Value[:12]
		}
	}
	return Version
}
