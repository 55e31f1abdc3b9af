#!/usr/bin/env bash
# verify-generate.sh: regenerate everything (go generate ./...) and fail when
# the result differs from what is committed.
#
# BPF objects are compared by meaning, not by bytes: clang-19 emits the same
# code but may order BTF forward declarations differently from one checkout to
# another (seen between two clones of the same commit), which renumbers type
# ids. An object passes when its disassembly with relocations and its BTF,
# with type ids left out, are the same as the committed object's.
set -euo pipefail
cd "$(dirname "$0")/.."

go generate ./...

status=0
if ! git diff --quiet -- . ':(exclude)*.o'; then
	git diff --stat -- . ':(exclude)*.o'
	status=1
fi

# meaning OBJECT: what must not change in a BPF object.
meaning() {
	llvm-objdump-19 -d -r --no-show-raw-insn "$1" | tail -n +3
	bpftool btf dump file "$1" | sed -E 's/^\[[0-9]+\] //; s/(type_id|ret_type_id)=[0-9]+/\1/g' | LC_ALL=C sort
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while read -r obj; do
	git show "HEAD:$obj" > "$tmp/committed.o"
	if ! diff -q <(meaning "$tmp/committed.o") <(meaning "$obj") > /dev/null; then
		echo "$obj: code or BTF differs from the committed object"
		diff <(meaning "$tmp/committed.o") <(meaning "$obj") | head -20
		status=1
	fi
done < <(git diff --name-only -- '*.o')

if ((status)); then
	echo 'generated files are stale: run make generate and commit the result'
fi
exit "$status"
