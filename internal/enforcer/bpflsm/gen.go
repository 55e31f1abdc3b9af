package bpflsm

//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type event -type rule_key -type rule_val -type workload -type dfa_row -cflags "-O2 -g -Wall -Werror -I../../../bpf/include" bulwark bpf/bulwark.c
