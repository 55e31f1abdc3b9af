// Package protoapi holds Bulwark's gRPC wire API, which is compatible with
// KubeArmor's: the .proto sources and the Go stubs generated from them live in
// the subpackages feeder (LogService: alerts, logs, daemon messages) and policy
// (PolicyService and ProbeService).
//
// This package has no code of its own. Its generate.go runs gen.sh, which
// regenerates the stubs with Debian's protoc 3.21 and the protoc-gen-go and
// protoc-gen-go-grpc versions pinned in go.mod's tool block; `make generate`
// reproduces the committed files byte for byte.
package protoapi
