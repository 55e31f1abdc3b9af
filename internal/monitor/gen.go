package monitor

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type event_header monitor bpf/monitor.c -- -I../../bpf/include -O2 -g -Wall
