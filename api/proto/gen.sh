#!/usr/bin/env bash
# gen.sh regenerates the Go stubs beside each .proto in this directory. It is
# run by `go generate` (see generate.go) from api/proto.
#
# The plugins come from go.mod's tool block, built into a temporary directory,
# so their versions are the pinned ones. protoc is Debian's, and its version
# is printed into every generated header, so any other version is refused:
# CI diffs the output byte for byte.
set -euo pipefail

want_protoc="libprotoc 3.21.12"
have_protoc="$(protoc --version 2>/dev/null || true)"
if [[ "$have_protoc" != "$want_protoc" ]]; then
  echo "gen.sh: need '$want_protoc' (Debian 12 protobuf-compiler), found '${have_protoc:-none}'" >&2
  exit 1
fi

# policy.proto imports google/protobuf/empty.proto, which Debian ships in
# libprotobuf-dev (only a Recommends of protobuf-compiler).
if [[ ! -f /usr/include/google/protobuf/empty.proto ]]; then
  echo "gen.sh: google/protobuf/empty.proto not found: apt-get install libprotobuf-dev" >&2
  exit 1
fi

plugins="$(mktemp -d)"
trap 'rm -rf "$plugins"' EXIT
go build -o "$plugins/" \
  google.golang.org/protobuf/cmd/protoc-gen-go \
  google.golang.org/grpc/cmd/protoc-gen-go-grpc

protoc \
  --plugin=protoc-gen-go="$plugins/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$plugins/protoc-gen-go-grpc" \
  -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  feeder/feeder.proto policy/policy.proto
