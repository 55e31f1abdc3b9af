// Package monitor is Bulwark's system monitor: process, file, network and
// capability telemetry from eBPF, enriched with a process tree and
// converted to KubeArmor Logs (and, through the decision engine, to Audit
// alerts). It observes only; nothing here changes what a process may do.
//
// # Kernel side (bpf/monitor.c)
//
// It uses attach points that need neither kprobes nor BPF trampolines
// (fentry, LSM), which some kernels refuse:
//
//   - tp_btf/sched_process_exec: the resolved executable (a bounded walk of
//     the binprm file's dentries across mounts; for a script, the script as
//     named), argv (≤ 1 KiB, ≤ 20 arguments kept), cwd, tty, ids, pid and
//     mount namespaces, cgroup id.
//   - tp_btf/sched_process_fork and sched_process_exit: process-tree upkeep.
//   - tp_btf/sys_enter and sys_exit: open, openat, openat2, unlink(at),
//     rmdir, mkdir(at), rename(at,at2), chmod/fchmodat(2), chown/lchown/
//     fchownat, socket, connect, accept(4), bind, listen, setuid, setgid,
//     ptrace, mount, umount2, and failed execve/execveat. Arguments are
//     saved per thread at entry and the event is built at exit, so it
//     carries the result; strings are copied from user memory only then.
//   - tp_btf/cap_capable: capability checks with their result (Linux 6.12+;
//     elsewhere reported by Monitor.AttachPoints and skipped).
//
// Filtering happens in the kernel before any string is copied: a global
// off switch (SetEnabled), then the workload's visibility — a per-cgroup
// entry (SetVisibility) or the host/container default — per class
// (process, file, network, capabilities). Failures of invisible classes
// are passed only with Options.ReportFailures. Results ENOENT (files,
// exec) and EINPROGRESS (connect) are dropped as upstream does, unless
// Options.ReportNotFound / ReportInProgress. Exec, fork and exit of a
// workload whose process class is invisible still reach user space, marked
// tree-only, so other classes' events keep their process context.
//
// Records go through one BPF ring buffer. They are submitted with
// BPF_RB_NO_WAKEUP until Options.WakeupBytes are waiting; the reader also
// drains every Options.FlushInterval, which bounds latency. Records lost
// to a full ring (and syscalls lost to a full pairing table) are counted
// per CPU (Monitor.Drops).
//
// # User side
//
// New loads and attaches; Start(ctx) reads with ringbuf.Reader.ReadInto
// into one reused record, Decode fills one reused Event (no allocation),
// the Tree applies fork/exec/exit and enriches the event with its process,
// parent and ancestry, and Options.Handler receives it. ToLog renders an
// event as a KubeArmor feeder.Log; Audit decides it with an engine.RuleSet
// and returns an "eBPF Monitor" alert for audit decisions.
package monitor
