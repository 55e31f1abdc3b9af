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
  docker.io                         # dockerd for the docker identity tests (a private one per test)
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Tests start private daemons: a postinst must not start the system
  # dockerd (it would take /var/run/docker.sock, which discovery probes).
  # policy-rc.d is honoured by invoke-rc.d and deb-systemd-invoke alike.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Nor start it at boot or on a connection to its socket.
  if [[ " ${missing[*]} " == *" docker.io "* ]]; then
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now --quiet docker.service docker.socket 2>/dev/null || true
    else
      update-rc.d -f docker remove >/dev/null 2>&1 || true
    fi
  fi
fi

# Go tools are pinned in go.mod's tool block; this downloads them once.
go mod download

# containerd 2 for the CRI identity tests (testenv.UseContainerd2): Debian
# 12's containerd 1.6 does not serve the CRI's GetContainerEvents. Built
# from the containerd module go.mod pins, into a directory of its own.
containerd2=/usr/local/lib/bulwark/containerd2
containerd2_version=$(go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
if [[ "$(cat "$containerd2/VERSION" 2>/dev/null)" != "$containerd2_version" ]]; then
  echo "install-deps: building containerd $containerd2_version into $containerd2"
  GOBIN=$containerd2 go install \
    "github.com/containerd/containerd/v2/cmd/containerd@$containerd2_version" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd2_version"
  echo "$containerd2_version" >"$containerd2/VERSION"
fi
