#!/usr/bin/env bash
# install-deps.sh: everything Bulwark's build and tests need on a fresh Debian 12
# machine (as root). Idempotent and quick when all is present.
set -euo pipefail

apt_packages=(
  make gcc                          # build
  clang-19 llvm-19 libbpf-dev bpftool   # BPF C (bpf2go) and vmlinux.h
  protobuf-compiler libprotobuf-dev # gRPC stubs (and google/protobuf/empty.proto)
  qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio   # kernel lab
  apparmor                          # apparmor_parser for profile checks and the guest
  containerd runc                   # real containers for the identity tests
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go tools are pinned in go.mod's tool block; this downloads them once.
go mod download
