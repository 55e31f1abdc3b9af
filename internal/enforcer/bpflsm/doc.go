// Package bpflsm is Bulwark's BPF-LSM enforcer: it encodes the meaning the
// decision engine (package engine) gives a workload's policies into BPF maps
// read by LSM programs, so that Block makes the syscall fail with EPERM and
// Audit, Audit (Block) and default-posture decisions become events straight
// from the kernel.
//
// # Compile and apply
//
// Compile turns an engine.RuleSet into a Spec: plain, deterministic data
// (map entries, pattern DFA, rule provenance) tested without a kernel.
// Enforcer.Apply is the only step that touches the kernel.
//
// # Maps
//
//   - workloads: cgroup v2 id → {generation, mode, allow-list, block-posture
//     and fromSource class bits, DFA start rows}. Key 0 is the host: every
//     task outside a registered cgroup.
//   - rules (one hash map for all workloads, sized by Options):
//     {generation, class|role|source mode, target hash, source hash} →
//     {check hash, 8 × (deny, audit, permit rule ids)}. The 8 slots are the
//     combinations of the operation's conditions (tty, owner, write); each
//     holds, for the rules sharing that key, the lowest rule id giving each
//     verdict, exactly as the engine's per-rule verdicts (Allow permits when
//     its conditions hold, Block denies unless its conditions hold, Audit
//     reports what Block would deny). Rules on one target are therefore
//     combined, never overwritten.
//   - dfa: rows of the per-workload, per-class pattern automata (256 next
//     states and an accept-set id).
//   - events (ring buffer), throttle (LRU: per workload+rule+action and per
//     workload), counters (per CPU), bw_config (hash seeds, wake-up bytes,
//     rates), barrier (see below).
//
// # Hooks and operations
//
// Each hook decides the engine.Operation it stands for:
//
//   - bprm_check_security: process, the executable (source: the parent's).
//   - file_open: file, Write when opened for writing (not the exec's own
//     open, left to bprm_check_security).
//   - path_unlink, path_mkdir, path_rmdir, path_truncate, path_chmod,
//     path_symlink, path_mknod: a file write of the path changed or
//     created. For symlink that is the new link, not its content (a string,
//     decided when a path through the link is opened); mknod also creates
//     FIFOs and the files of AF_UNIX sockets bound to a path.
//   - path_rename: a write of the old path, then of the new one.
//   - path_link: a write of the existing file, then of the new name. The
//     existing file counts because a hard link gives it a second name that
//     rules on its path do not name, through which it could then be written;
//     so a Block or readOnly rule on a file also refuses hard links to it.
//   - socket_create, socket_connect, socket_accept: network; capable:
//     capabilities.
//
// Where a hook decides two paths, the first denial is the verdict and the
// second path is not decided. A name being created has no inode yet: its
// owner is unknown, which the engine never takes for the actor.
//
// # Paths and hashing
//
// The kernel gets the full path with bpf_d_path (bprm_check_security and
// file_open, where 6.1 allows it) or a bounded dentry walk relative to the
// task's root (path hooks, source executables), up to PATH_MAX. It scans the
// path once (bpf_loop), computing two seeded 64-bit hashes incrementally:
// at every '/' it looks up the prefix as a recursive-directory ancestor; at
// the end the whole path (exact path, and a directory rule's own
// directory), the parent (non-recursive directories) and, for exec, the
// basename (execname). h1 is the key, h2 is stored and compared, so a path
// outside the spec matches only if both hashes collide; two spec targets
// with the same key are refused at compile time (CollisionError). There is
// no depth or length limit below PATH_MAX and no rule or workload cap
// beyond the map sizes (Usage reports them).
//
// fromSource: with fromSource rules in a class, each target is also looked
// up under the hash of the source executable (path) and of its directory
// (dir). The source is the parent task's executable for exec and the task's
// own otherwise.
//
// matchPatterns: all globs of one class of a workload compile to one
// byte-level DFA in user space (subset construction over a Thompson NFA,
// byte classes); the kernel steps it with one array lookup per path byte
// during the same scan and, in an accepting state, looks up the accept set's
// entry. See glob.go for the non-ASCII caveats.
//
// # Decision
//
// After folding every matching entry the kernel applies the engine's
// precedence (decide_result in bpf/bulwark.c): a deny is Block; otherwise,
// in allow-list mode without permission, the first Audit rule under an
// audit posture or the default posture; otherwise an Audit rule; otherwise
// silent allow. Audited workloads turn Block into Audit (Block) and never
// deny. Denials return -EPERM, as upstream KubeArmor's BPF-LSM does, which
// also tells a policy denial apart from DAC's EACCES.
//
// Not encoded: allowedArgs (the kernel does not read argv; such rules are
// treated as never satisfied: Block denies, Allow does not permit, and
// Compile warns), recursive fromSource directories (treated as direct),
// DNS, device and syscall rules (not enforced by this enforcer).
//
// # Atomic update
//
// Apply writes the new generation's entries and DFA rows beside the old
// ones, switches the workload's single workloads-map value to the new
// generation (one atomic element replace), then updates the barrier
// map-in-map, after which the kernel has waited for an RCU grace period, and
// only then deletes the old generation. No program sees a half-written
// workload or a workload without rules.
//
// # Events
//
// Every decision that is not a silent allow is written to the ring buffer
// with the workload, generation, rule id, pids (host and namespace), uid,
// hook, action, errno and full path and source. Block events wake the
// reader at once; others only past Options.WakeupBytes, and Reader polls at
// Options.FlushInterval, so their latency is bounded. Throttling keeps a
// one-second window per workload+rule+action and one per workload for
// non-Block events, so a noisy Audit rule cannot hide a Block; dropped
// events (throttled, ring full) are counted (Enforcer.Counters) and the next
// event of a throttled rule carries its drop count. Alert converts an event
// and its Spec into a KubeArmor alert.
//
// # Harness
//
// Harness loads the same decision functions in a socket filter that can be
// BPF_PROG_TEST_RUN where BPF-LSM is refused: it gives native ns per
// decision and a host-side differential test against the engine.
package bpflsm
