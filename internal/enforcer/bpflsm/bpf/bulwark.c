//go:build ignore

// Bulwark's BPF-LSM enforcer: the kernel half of package bpflsm.
//
// Every hook finds the task's workload (cgroup v2 id, else the host key 0),
// turns the operation into a class (process, file, network, capabilities), a
// target and a source, folds the verdicts of every matching rules-map entry
// and applies the engine's precedence (see decide_result). The decision
// logic lives in __always_inline functions and bpf_loop callbacks shared by
// the LSM programs and bulwark_harness, a socket filter that the development
// host can BPF_PROG_TEST_RUN for native timings.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1
#define PATH_MAX 4096
#define PATH_MASK (PATH_MAX - 1)
#define BUF_SIZE (2 * PATH_MAX)
#define BUF_MASK (BUF_SIZE - 1)
#define NAME_MASK 255
#define MAX_DENTRY_DEPTH 512
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define __FMODE_EXEC_FLAG 0x20 // __FMODE_EXEC, as an open flag
#define CAP_OPT_NOAUDIT 0x2

// Classes (enum class in compile.go).
enum bclass {
	CLASS_PROCESS = 1,
	CLASS_FILE = 2,
	CLASS_NETWORK = 3,
	CLASS_CAPABILITIES = 4,
};

// Target roles of a rules-map key.
enum role {
	ROLE_ANCESTOR = 1, // recursive directory rules, looked up at every '/'
	ROLE_PARENT = 2,   // non-recursive directory rules, at the last '/'
	ROLE_SELF = 3,     // exact path, and a directory rule's own directory
	ROLE_EXECNAME = 4, // basename
	ROLE_PATTERN = 5,  // accept set of the class DFA
	ROLE_NAME = 6,     // protocol / socket type / capability number
};

// Source modes of a rules-map key.
enum srcmode {
	SRC_NONE = 0,
	SRC_PATH = 1, // fromSource path: hash of the source executable
	SRC_DIR = 2,  // fromSource dir: hash of the source's directory
};

enum action {
	ACT_NONE = 0,
	ACT_BLOCK = 1,
	ACT_AUDIT = 2,
	ACT_AUDIT_BLOCK = 3,
};

enum mode {
	MODE_ENABLED = 0,
	MODE_AUDITED = 1,
	MODE_DISABLED = 2,
};

enum hook {
	HOOK_HARNESS = 0,
	HOOK_BPRM_CHECK = 1,
	HOOK_FILE_OPEN = 2,
	HOOK_PATH_UNLINK = 3,
	HOOK_PATH_MKDIR = 4,
	HOOK_PATH_RMDIR = 5,
	HOOK_PATH_RENAME = 6,
	HOOK_PATH_TRUNCATE = 7,
	HOOK_PATH_CHMOD = 8,
	HOOK_SOCKET_CREATE = 9,
	HOOK_SOCKET_CONNECT = 10,
	HOOK_SOCKET_ACCEPT = 11,
	HOOK_CAPABLE = 12,
	HOOK_PATH_LINK = 13,
	HOOK_PATH_SYMLINK = 14,
	HOOK_PATH_MKNOD = 15,
};

// Counters (PERCPU_ARRAY indexes).
enum counter {
	CNT_DECISIONS = 0,
	CNT_DENIED = 1,
	CNT_EVENTS = 2,
	CNT_RINGBUF_FULL = 3,
	CNT_THROTTLED_RULE = 4,
	CNT_THROTTLED_WORKLOAD = 5,
	CNT_PATH_TRUNCATED = 6,
	CNT_MAX = 8,
};

// Configuration (ARRAY indexes).
enum config {
	CFG_SEED1 = 0,
	CFG_SEED2 = 1,
	CFG_WAKEUP_BYTES = 2,   // force a wake-up when this much data is pending
	CFG_RULE_PER_SEC = 3,   // events per (workload, rule, action) per second; 0 = no limit
	CFG_WORKLOAD_PER_SEC = 4, // non-Block events per workload per second; 0 = no limit
	CFG_MAX = 8,
};

#define NCOMBO 8 // tty<<2 | owner<<1 | write

struct rule_key {
	__u32 gen;
	__u16 kind; // class<<8 | role<<4 | srcmode
	__u16 pad;
	__u64 target;
	__u64 src;
};

struct verdicts {
	__u32 deny, audit, permit; // lowest rule id (1-based) giving each verdict; 0 none
};

struct rule_val {
	__u64 check; // second hash of target and source: collision guard
	struct verdicts v[NCOMBO];
};

struct workload {
	__u32 gen;
	__u8 mode;
	__u8 allowlist;     // bit (1<<class) per posture class in allow-list mode
	__u8 block_posture; // bit (1<<class) per posture class whose posture is block
	__u8 has_src;       // bit (1<<class) per class with fromSource rules
	__u32 dfa[CLASS_FILE + 1]; // start row of the pattern DFA per path class; 0 none
};

struct dfa_row {
	__u32 next[256];
	__u32 accept; // accept-set id, 0 when not accepting
};

struct event {
	__u64 ts;
	__u64 cgid;
	__u32 gen;
	__u32 rule;
	__u32 host_pid, host_ppid, pid, ppid;
	__u32 uid;
	__u16 hook;
	__u8 action;
	__u8 class;
	__s32 ret;
	__u32 dropped; // events of this rule throttled since the previous one
	__u32 arg0, arg1, arg2; // f_mode | family, type, protocol | capability
	__u16 path_len;
	__u16 src_len;
	__u32 pad;
};

struct throttle_key {
	__u64 cgid;
	__u32 rule; // 0xffffffff: the workload's bucket
	__u32 action;
};

struct throttle_val {
	__u64 window;
	__u32 count;
	__u32 dropped;
};

struct harness_req {
	__u64 cgid;
	__u32 class;
	__u32 combo;
	__u32 path_len;
	__u32 src_len;
};

struct scratch {
	char path[BUF_SIZE];
	char src[BUF_SIZE];
	struct event ev;
	char data[BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); // cgroup v2 id; 0 = host
	__type(value, struct workload);
} workloads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rule_key);
	__type(value, struct rule_val);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct dfa_row);
} dfa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CFG_MAX);
	__type(key, __u32);
	__type(value, __u64);
} bw_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct throttle_key);
	__type(value, struct throttle_val);
} throttle SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

// The loader updates this map-in-map after switching a workload's
// generation: the kernel then waits for an RCU grace period, so no program
// still uses the previous generation when its entries are deleted.
struct barrier_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct barrier_inner);
} barrier SEC(".maps");

// Hashes. h1 is FNV-1a with a seeded basis (the map key), h2 a different
// multiplicative hash (stored in the value and checked), so an accidental
// match needs both 64-bit hashes to collide.
#define H1_PRIME 0x100000001b3ULL
#define H2_MUL 0x9E3779B97F4A7C15ULL
#define SRC_MUL 0xff51afd7ed558ccdULL

static __always_inline __u64 h1_step(__u64 h, __u8 c) { return (h ^ c) * H1_PRIME; }
static __always_inline __u64 h2_step(__u64 h, __u8 c) { return ((h ^ c) + 0x7f4a7c15ULL) * H2_MUL; }

static __always_inline __u64 cfg(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&bw_config, &k);
	return v ? *v : 0;
}

static __always_inline void count(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &k);
	if (v)
		*v += 1;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 z = 0;
	return bpf_map_lookup_elem(&scratch, &z);
}

// phash hashes a path in a scratch buffer, one byte per bpf_loop step:
// h1/h2 of the bytes so far and p1/p2 of the prefix before the last '/'.
struct phash {
	const char *buf; // s->path or s->src: a loop invariant, set once
	__u32 start, len;
	__u64 h1, h2, p1, p2;
};

// phash_step hashes byte i of x->buf[start, start+len) and returns it, or
// -1 past the end.
static __always_inline int phash_step(struct phash *x, __u32 i)
{
	if (i >= x->len)
		return -1;
	__u8 c = x->buf[(x->start + i) & BUF_MASK];
	__u64 h1 = x->h1, h2 = x->h2;
	if (c == '/') {
		x->p1 = h1;
		x->p2 = h2;
	}
	x->h1 = h1_step(h1, c);
	x->h2 = h2_step(h2, c);
	return c;
}

// dctx is the state of one decision, and of its path while its bytes are
// scanned. The loop invariants of the scan (the path buffer in ph and the
// hash seeds) are set once before bpf_loop, so the per-byte callback does no
// map lookup but the DFA step.
struct dctx {
	__u32 gen;
	__u32 class;
	__u32 combo;
	__u32 nsrc; // source variants to probe: 1, or 3 when the class has fromSource rules
	__u64 seed1, seed2;
	__u64 src1[3], src2[3];
	struct phash ph; // full path and last-prefix hashes
	__u64 b1, b2; // basename hashes
	__u32 state; // DFA row, 0 dead
	__u32 deny, audit, permit;
};

static __always_inline void keep(__u32 *best, __u32 id)
{
	if (id && (!*best || id < *best))
		*best = id;
}

// probe folds the entries of one target under every source variant.
static __always_inline void probe(struct dctx *d, __u32 role, __u64 t1, __u64 t2)
{
	struct rule_key key = {};
	key.gen = d->gen;
	key.target = t1;
	__u32 c = d->combo & (NCOMBO - 1);
#pragma unroll
	for (int i = 0; i < 3; i++) {
		if (i >= d->nsrc)
			break;
		key.kind = (d->class << 8) | (role << 4) | i;
		key.src = d->src1[i];
		struct rule_val *v = bpf_map_lookup_elem(&rules, &key);
		if (!v || v->check != (t2 ^ (d->src2[i] * SRC_MUL)))
			continue;
		keep(&d->deny, v->v[c].deny);
		keep(&d->audit, v->v[c].audit);
		keep(&d->permit, v->v[c].permit);
	}
}

static long scan_byte(__u32 i, void *ctx)
{
	struct dctx *d = ctx;
	int c = phash_step(&d->ph, i);
	if (c < 0)
		return 1;
	if (c == '/') {
		// ph.p1/p2 now hash the prefix before this '/'.
		probe(d, ROLE_ANCESTOR, d->ph.p1, d->ph.p2);
		d->b1 = d->seed1;
		d->b2 = d->seed2;
	} else {
		d->b1 = h1_step(d->b1, c);
		d->b2 = h2_step(d->b2, c);
	}
	__u32 st = d->state;
	if (st) {
		struct dfa_row *row = bpf_map_lookup_elem(&dfa, &st);
		d->state = row ? row->next[c & 0xff] : 0;
	}
	return 0;
}

static long scan_src_byte(__u32 i, void *ctx)
{
	return phash_step(ctx, i) < 0;
}

struct result {
	__u32 action;
	__u32 rule;
};

// decide_result applies the engine's precedence to the folded verdicts:
// deny; allow-list without permission (posture, or the first Audit rule when
// the posture is audit); audit; otherwise a silent allow.
static __always_inline struct result decide_result(struct workload *wl, __u32 class, __u32 deny, __u32 audit, __u32 permit)
{
	struct result r = {};
	__u32 pc = class == CLASS_PROCESS ? CLASS_FILE : class;
	__u8 bit = 1 << pc;
	if (deny) {
		r.action = ACT_BLOCK;
		r.rule = deny;
	} else if (!permit && (wl->allowlist & bit)) {
		if (audit && !(wl->block_posture & bit)) {
			r.action = ACT_AUDIT;
			r.rule = audit;
		} else {
			r.action = (wl->block_posture & bit) ? ACT_BLOCK : ACT_AUDIT;
		}
	} else if (audit) {
		r.action = ACT_AUDIT;
		r.rule = audit;
	}
	if (wl->mode == MODE_AUDITED && r.action == ACT_BLOCK)
		r.action = ACT_AUDIT_BLOCK;
	return r;
}

// decide_init starts the decision d of an operation of class in workload
// wl and, when the class has fromSource rules and the source executable
// s->src[sstart, sstart+slen) is known (slen > 0), hashes the source: its
// path and its directory are the source variants 1 and 2 probed with every
// target.
static __always_inline void decide_init(struct dctx *d, struct scratch *s, struct workload *wl, __u32 class,
					__u32 combo, __u32 sstart, __u32 slen)
{
	d->gen = wl->gen;
	d->class = class;
	d->combo = combo;
	d->nsrc = 1;
	d->seed1 = cfg(CFG_SEED1);
	d->seed2 = cfg(CFG_SEED2);
	if (!(wl->has_src & (1 << class)) || !slen)
		return;
	struct phash x = {.buf = s->src, .start = sstart, .len = slen};
	x.h1 = x.p1 = d->seed1;
	x.h2 = x.p2 = d->seed2;
	bpf_loop(PATH_MAX, scan_src_byte, &x, 0);
	d->nsrc = 3;
	d->src1[1] = x.h1;
	d->src2[1] = x.h2;
	d->src1[2] = x.p1;
	d->src2[2] = x.p2;
}

// decide_path decides a process or file operation on the path in
// s->path[start, start+len) whose source executable is in s->src[sstart,
// sstart+slen) (slen 0: unknown).
static __always_inline struct result decide_path(struct scratch *s, struct workload *wl, __u32 class, __u32 start,
						 __u32 len, __u32 combo, __u32 sstart, __u32 slen)
{
	struct dctx d = {};
	decide_init(&d, s, wl, class, combo, sstart, slen);
	d.ph.buf = s->path;
	d.ph.start = start;
	d.ph.len = len;
	d.ph.h1 = d.ph.p1 = d.b1 = d.seed1;
	d.ph.h2 = d.ph.p2 = d.b2 = d.seed2;
	if (class == CLASS_PROCESS || class == CLASS_FILE)
		d.state = wl->dfa[class & 3];
	bpf_loop(PATH_MAX, scan_byte, &d, 0);

	probe(&d, ROLE_SELF, d.ph.h1, d.ph.h2);
	probe(&d, ROLE_PARENT, d.ph.p1, d.ph.p2);
	if (class == CLASS_PROCESS)
		probe(&d, ROLE_EXECNAME, d.b1, d.b2);
	if (d.state) {
		__u32 st = d.state;
		struct dfa_row *row = bpf_map_lookup_elem(&dfa, &st);
		if (row && row->accept)
			probe(&d, ROLE_PATTERN, row->accept, row->accept);
	}
	return decide_result(wl, class, d.deny, d.audit, d.permit);
}

// decide_name decides a network or capability operation on up to three
// name ids (0: absent).
static __always_inline struct result decide_name(struct scratch *s, struct workload *wl, __u32 class, __u32 combo,
						 __u32 n0, __u32 n1, __u32 n2, __u32 sstart, __u32 slen)
{
	struct dctx d = {};
	decide_init(&d, s, wl, class, combo, sstart, slen);
	if (n0)
		probe(&d, ROLE_NAME, n0, n0);
	if (n1 && n1 != n0)
		probe(&d, ROLE_NAME, n1, n1);
	if (n2)
		probe(&d, ROLE_NAME, n2, n2);
	return decide_result(wl, class, d.deny, d.audit, d.permit);
}

// ---- Task and path helpers (LSM programs only) ----

static __always_inline struct workload *current_workload(__u64 *cgid)
{
	*cgid = bpf_get_current_cgroup_id();
	struct workload *wl = bpf_map_lookup_elem(&workloads, cgid);
	if (!wl) {
		*cgid = 0;
		wl = bpf_map_lookup_elem(&workloads, cgid);
	}
	if (!wl || wl->mode == MODE_DISABLED)
		return 0;
	return wl;
}

struct walkctx {
	struct dentry *d;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_mnt;
	__u32 off;
	__u32 which; // 0 path, 1 src
	__u32 truncated;
};

static long walk_step(__u32 i, void *ctx)
{
	struct walkctx *w = ctx;
	struct scratch *s = get_scratch();
	// Copy the cursor out of the context: CO-RE reads must start from kernel
	// pointers, not from fields of our own structs.
	struct dentry *d = w->d;
	struct mount *mnt = w->mnt;
	if (!s || !d)
		return 1;
	struct vfsmount *vm = (void *)mnt + bpf_core_field_offset(struct mount, mnt);
	if (d == w->root_d && vm == w->root_mnt)
		return 1;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(vm, mnt_root);
	if (d == mnt_root || d == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (d != mnt_root || mp == mnt || !mp)
			return 1; // global root, or detached
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mp;
		return 0;
	}
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	if (len > NAME_MASK || w->off < len + 2) {
		w->truncated = 1;
		return 1;
	}
	w->off -= len;
	char *buf = w->which ? s->src : s->path;
	bpf_probe_read_kernel(buf + (w->off & PATH_MASK), len & NAME_MASK, name);
	w->off -= 1;
	buf[w->off & PATH_MASK] = '/';
	w->d = parent;
	return 0;
}

// walk_path writes the path of (mnt, dentry), relative to the task's root
// like d_path, ending at PATH_MAX-1 of the chosen buffer. It returns the
// start offset and sets *len.
static __always_inline __u32 walk_path(struct vfsmount *vfsmnt, struct dentry *dentry, __u32 which, __u32 *len)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct walkctx w = {};
	w.d = dentry;
	w.mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w.root_d = BPF_CORE_READ(t, fs, root.dentry);
	w.root_mnt = BPF_CORE_READ(t, fs, root.mnt);
	w.off = PATH_MAX - 1;
	w.which = which;
	bpf_loop(MAX_DENTRY_DEPTH, walk_step, &w, 0);
	if (w.truncated)
		count(CNT_PATH_TRUNCATED);
	if (w.off == PATH_MAX - 1) {
		struct scratch *s = get_scratch();
		if (s) {
			char *buf = which ? s->src : s->path;
			w.off -= 1;
			buf[w.off & PATH_MASK] = '/';
		}
	}
	*len = PATH_MAX - 1 - w.off;
	return w.off;
}

static __always_inline __u32 exe_path(struct task_struct *t, __u32 *start)
{
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	__u32 len = 0;
	if (!exe)
		return 0;
	*start = walk_path(BPF_CORE_READ(exe, f_path.mnt), BPF_CORE_READ(exe, f_path.dentry), 1, &len);
	return len;
}

static __always_inline __u32 tty_bit(struct task_struct *t)
{
	return BPF_CORE_READ(t, signal, tty) ? 4 : 0;
}

static __always_inline __u32 pid_in_ns(struct task_struct *t)
{
	struct pid *p = BPF_CORE_READ(t, thread_pid);
	__u32 level = BPF_CORE_READ(p, level);
	return BPF_CORE_READ(p, numbers[level & 31].nr);
}

static __always_inline int throttled(__u64 cgid, __u32 rule, __u32 action, __u32 limit)
{
	if (!limit)
		return 0;
	struct throttle_key k = {.cgid = cgid, .rule = rule, .action = action};
	__u64 now = bpf_ktime_get_ns();
	struct throttle_val *v = bpf_map_lookup_elem(&throttle, &k);
	if (!v) {
		struct throttle_val nv = {.window = now, .count = 1};
		bpf_map_update_elem(&throttle, &k, &nv, BPF_ANY);
		return 0;
	}
	if (now - v->window > 1000000000ULL) {
		v->window = now;
		v->count = 0;
	}
	if (v->count >= limit) {
		__sync_fetch_and_add(&v->dropped, 1);
		return 1;
	}
	__sync_fetch_and_add(&v->count, 1);
	return 0;
}

// rule_dropped returns the events of a rule dropped since its last event
// (and resets the count when take is set), or, with add, counts one more.
static __always_inline __u32 rule_dropped(__u64 cgid, __u32 rule, __u32 action, int add)
{
	struct throttle_key k = {.cgid = cgid, .rule = rule, .action = action};
	struct throttle_val *v = bpf_map_lookup_elem(&throttle, &k);
	if (!v)
		return 0;
	if (add) {
		__sync_fetch_and_add(&v->dropped, 1);
		return 0;
	}
	__u32 n = v->dropped;
	v->dropped = 0;
	return n;
}

// emit reports a decision that is not a silent allow, unless throttled.
// The path and source, when present, are in the scratch buffers. An event
// the workload's budget drops still counts as dropped for its rule, so the
// rule's next event reports it.
static __always_inline void emit(struct scratch *s, __u64 cgid, struct workload *wl, struct result r, __u32 hook,
				 __u32 class, __s32 ret, __u32 a0, __u32 a1, __u32 a2, __u32 pstart, __u32 plen,
				 __u32 sstart, __u32 slen)
{
	if (throttled(cgid, r.rule, r.action, cfg(CFG_RULE_PER_SEC))) {
		count(CNT_THROTTLED_RULE);
		return;
	}
	if (r.action != ACT_BLOCK && throttled(cgid, 0xffffffff, 0, cfg(CFG_WORKLOAD_PER_SEC))) {
		count(CNT_THROTTLED_WORKLOAD);
		rule_dropped(cgid, r.rule, r.action, 1);
		return;
	}
	__u32 dropped = rule_dropped(cgid, r.rule, r.action, 0);
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *parent = BPF_CORE_READ(t, real_parent);
	struct event *e = &s->ev;
	e->ts = bpf_ktime_get_ns();
	e->cgid = cgid;
	e->gen = wl->gen;
	e->rule = r.rule;
	e->host_pid = BPF_CORE_READ(t, tgid);
	e->host_ppid = BPF_CORE_READ(parent, tgid);
	e->pid = pid_in_ns(t);
	e->ppid = pid_in_ns(parent);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->hook = hook;
	e->action = r.action;
	e->class = class;
	e->ret = ret;
	e->dropped = dropped;
	e->arg0 = a0;
	e->arg1 = a1;
	e->arg2 = a2;
	plen &= PATH_MASK;
	slen &= PATH_MASK;
	e->path_len = plen;
	e->src_len = slen;
	if (plen)
		bpf_probe_read_kernel(s->data, plen, s->path + (pstart & PATH_MASK));
	if (slen)
		bpf_probe_read_kernel(s->data + plen, slen, s->src + (sstart & PATH_MASK));
	__u64 size = sizeof(struct event) + plen + slen;
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (r.action == ACT_BLOCK || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) + size >= cfg(CFG_WAKEUP_BYTES))
		flags = BPF_RB_FORCE_WAKEUP;
	if (size > sizeof(struct event) + BUF_SIZE) // bound for the verifier; never true
		return;
	if (bpf_ringbuf_output(&events, e, size, flags))
		count(CNT_RINGBUF_FULL);
	else
		count(CNT_EVENTS);
}

static __always_inline int verdict(struct result r)
{
	count(CNT_DECISIONS);
	if (r.action == ACT_BLOCK) {
		count(CNT_DENIED);
		return -EPERM;
	}
	return 0;
}

// check_path decides a process/file operation on the path already in
// s->path and emits its event.
static __always_inline int check_path(struct scratch *s, __u64 cgid, struct workload *wl, __u32 hook, __u32 class,
				      __u32 start, __u32 len, __u32 combo, struct task_struct *src_task, __u32 a0)
{
	__u32 sstart = 0, slen = 0;
	if (src_task)
		slen = exe_path(src_task, &sstart);
	struct result r = decide_path(s, wl, class, start, len, combo, sstart, slen);
	if (r.action == ACT_NONE)
		return verdict(r);
	int ret = verdict(r);
	emit(s, cgid, wl, r, hook, class, ret, a0, combo, 0, start, len, sstart, slen);
	return ret;
}

static __always_inline __u32 owner_bit(struct inode *inode)
{
	if (!inode)
		return 0;
	return BPF_CORE_READ(inode, i_uid.val) == (__u32)bpf_get_current_uid_gid() ? 2 : 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(bulwark_bprm_check, struct linux_binprm *bprm, int ret)
{
	__u64 cgid;
	struct workload *wl;
	struct scratch *s;
	if (ret || !(wl = current_workload(&cgid)) || !(s = get_scratch()))
		return ret;
	struct task_struct *t = bpf_get_current_task_btf();
	long n = bpf_d_path((struct path *)&bprm->file->f_path, s->path, PATH_MAX);
	if (n <= 1)
		return 0;
	__u32 combo = tty_bit(t) | owner_bit(BPF_CORE_READ(bprm, file, f_inode));
	return check_path(s, cgid, wl, HOOK_BPRM_CHECK, CLASS_PROCESS, 0, n - 1, combo, BPF_CORE_READ(t, real_parent), 0);
}

SEC("lsm/file_open")
int BPF_PROG(bulwark_file_open, struct file *file, int ret)
{
	__u64 cgid;
	struct workload *wl;
	struct scratch *s;
	if (ret || !(wl = current_workload(&cgid)) || !(s = get_scratch()))
		return ret;
	__u32 fmode = BPF_CORE_READ(file, f_mode);
	__u32 fflags = BPF_CORE_READ(file, f_flags);
	// The exec's own open (open_exec: __FMODE_EXEC in f_flags) is a process
	// operation, decided by bprm_check_security.
	if ((fmode & FMODE_EXEC) || (fflags & __FMODE_EXEC_FLAG))
		return 0;
	long n = bpf_d_path((struct path *)&file->f_path, s->path, PATH_MAX);
	if (n <= 1)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 combo = tty_bit(t) | owner_bit(BPF_CORE_READ(file, f_inode)) | ((fmode & FMODE_WRITE) ? 1 : 0);
	return check_path(s, cgid, wl, HOOK_FILE_OPEN, CLASS_FILE, 0, n - 1, combo, t, fmode);
}

// path_op decides a modification of (mnt, dentry) as a file write.
static __always_inline int path_op(__u32 hook, struct vfsmount *mnt, struct dentry *dentry)
{
	__u64 cgid;
	struct workload *wl;
	struct scratch *s;
	if (!(wl = current_workload(&cgid)) || !(s = get_scratch()))
		return 0;
	__u32 len = 0;
	__u32 start = walk_path(mnt, dentry, 0, &len);
	struct task_struct *t = bpf_get_current_task_btf();
	// A dentry being created has no inode yet: its owner is unknown, never
	// the actor (as in the engine).
	__u32 combo = tty_bit(t) | owner_bit(BPF_CORE_READ(dentry, d_inode)) | 1;
	return check_path(s, cgid, wl, hook, CLASS_FILE, start, len, combo, t, 0);
}

// dir_op decides a change of the entry dentry of directory dir, after the
// other LSMs (ret) allowed it.
static __always_inline int dir_op(__u32 hook, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return path_op(hook, BPF_CORE_READ(dir, mnt), dentry);
}

SEC("lsm/path_unlink")
int BPF_PROG(bulwark_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	return dir_op(HOOK_PATH_UNLINK, dir, dentry, ret);
}

SEC("lsm/path_mkdir")
int BPF_PROG(bulwark_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return dir_op(HOOK_PATH_MKDIR, dir, dentry, ret);
}

SEC("lsm/path_rmdir")
int BPF_PROG(bulwark_path_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	return dir_op(HOOK_PATH_RMDIR, dir, dentry, ret);
}

// mknod also creates FIFOs and, through bind(2), AF_UNIX socket files.
SEC("lsm/path_mknod")
int BPF_PROG(bulwark_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode, unsigned int dev, int ret)
{
	return dir_op(HOOK_PATH_MKNOD, dir, dentry, ret);
}

// old_name, the link's content, is only a string: it is decided when a
// path through the link is opened.
SEC("lsm/path_symlink")
int BPF_PROG(bulwark_path_symlink, const struct path *dir, struct dentry *dentry, const char *old_name, int ret)
{
	return dir_op(HOOK_PATH_SYMLINK, dir, dentry, ret);
}

// A hard link is a write of the existing file (a second name, which rules on
// its path do not name), then of the new name. linkat refuses EXDEV before
// this hook: both are on new_dir's mount.
SEC("lsm/path_link")
int BPF_PROG(bulwark_path_link, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	int r = path_op(HOOK_PATH_LINK, BPF_CORE_READ(new_dir, mnt), old_dentry);
	if (r)
		return r;
	return dir_op(HOOK_PATH_LINK, new_dir, new_dentry, 0);
}

SEC("lsm/path_rename")
int BPF_PROG(bulwark_path_rename, const struct path *old_dir, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, unsigned int flags, int ret)
{
	int r = dir_op(HOOK_PATH_RENAME, old_dir, old_dentry, ret);
	if (r)
		return r;
	return dir_op(HOOK_PATH_RENAME, new_dir, new_dentry, 0);
}

SEC("lsm/path_truncate")
int BPF_PROG(bulwark_path_truncate, const struct path *path, int ret)
{
	if (ret)
		return ret;
	return path_op(HOOK_PATH_TRUNCATE, BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry));
}

SEC("lsm/path_chmod")
int BPF_PROG(bulwark_path_chmod, const struct path *path, umode_t mode, int ret)
{
	if (ret)
		return ret;
	return path_op(HOOK_PATH_CHMOD, BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry));
}

// Network name ids (netNames in compile.go).
static __always_inline __u32 proto_name(__u32 family, __u32 type, __u32 protocol)
{
	if (family != 2 && family != 10) // AF_INET, AF_INET6
		return 0;
	if (protocol == 0) {
		if (type == 1)
			protocol = 6;
		else if (type == 2)
			protocol = 17;
	}
	switch (protocol) {
	case 6: return 1;   // tcp
	case 17: return 2;  // udp
	case 1: return 3;   // icmp
	case 58: return 4;  // icmpv6
	case 255: return 5; // raw
	case 132: return 6; // sctp
	}
	return 0;
}

static __always_inline __u32 type_name(__u32 type)
{
	switch (type & 0xf) {
	case 1: return 7;   // stream
	case 2: return 8;   // dgram
	case 3: return 5;   // raw
	case 4: return 9;   // rdm
	case 5: return 10;  // seqpacket
	case 6: return 11;  // dccp
	case 10: return 12; // packet
	}
	return 0;
}

#define NAME_ALL 13

static __always_inline int socket_op(__u32 hook, __u32 family, __u32 type, __u32 protocol)
{
	__u64 cgid;
	struct workload *wl;
	struct scratch *s;
	if (!(wl = current_workload(&cgid)) || !(s = get_scratch()))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 combo = tty_bit(t);
	__u32 sstart = 0, slen = 0;
	if (wl->has_src & (1 << CLASS_NETWORK))
		slen = exe_path(t, &sstart);
	struct result r = decide_name(s, wl, CLASS_NETWORK, combo, proto_name(family, type, protocol), type_name(type),
				      NAME_ALL, sstart, slen);
	int ret = verdict(r);
	if (r.action != ACT_NONE) {
		if (!slen)
			slen = exe_path(t, &sstart);
		emit(s, cgid, wl, r, hook, CLASS_NETWORK, ret, family, type & 0xf, protocol, 0, 0, sstart, slen);
	}
	return ret;
}

SEC("lsm/socket_create")
int BPF_PROG(bulwark_socket_create, int family, int type, int protocol, int kern, int ret)
{
	if (ret || kern)
		return ret;
	return socket_op(HOOK_SOCKET_CREATE, family, type, protocol);
}

// sock_op decides an operation on an existing socket.
static __always_inline int sock_op(__u32 hook, struct socket *sock)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	return socket_op(hook, BPF_CORE_READ(sk, __sk_common.skc_family), BPF_CORE_READ(sock, type),
			 BPF_CORE_READ(sk, sk_protocol));
}

SEC("lsm/socket_connect")
int BPF_PROG(bulwark_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	if (ret)
		return ret;
	return sock_op(HOOK_SOCKET_CONNECT, sock);
}

SEC("lsm/socket_accept")
int BPF_PROG(bulwark_socket_accept, struct socket *sock, struct socket *newsock, int ret)
{
	if (ret)
		return ret;
	return sock_op(HOOK_SOCKET_ACCEPT, sock);
}

SEC("lsm/capable")
int BPF_PROG(bulwark_capable, const struct cred *cred, struct user_namespace *ns, int cap, unsigned int opts, int ret)
{
	__u64 cgid;
	struct workload *wl;
	struct scratch *s;
	if (ret || !(wl = current_workload(&cgid)) || !(s = get_scratch()))
		return ret;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 sstart = 0, slen = 0;
	if (wl->has_src & (1 << CLASS_CAPABILITIES))
		slen = exe_path(t, &sstart);
	// Capability name ids are the capability number plus one.
	struct result r = decide_name(s, wl, CLASS_CAPABILITIES, tty_bit(t), (__u32)cap + 1, 0, 0, sstart, slen);
	int rc = verdict(r);
	if (r.action != ACT_NONE && !(opts & CAP_OPT_NOAUDIT)) {
		if (!slen)
			slen = exe_path(t, &sstart);
		emit(s, cgid, wl, r, HOOK_CAPABLE, CLASS_CAPABILITIES, rc, cap, opts, 0, 0, 0, sstart, slen);
	}
	return rc;
}

// bulwark_harness runs the decision logic on a request passed as packet
// data (struct harness_req, then the path, then the source) and returns
// action<<24 | rule. It exists to be BPF_PROG_TEST_RUN on kernels that
// refuse BPF-LSM, for native timings and host tests of the encoding.
SEC("socket")
int bulwark_harness(struct __sk_buff *skb)
{
	struct harness_req req;
	struct scratch *s = get_scratch();
	if (!s || bpf_skb_load_bytes(skb, 0, &req, sizeof(req)))
		return -1;
	struct workload *wl = bpf_map_lookup_elem(&workloads, &req.cgid);
	if (!wl || wl->mode == MODE_DISABLED)
		return 0;
	__u32 plen = req.path_len & PATH_MASK, slen = req.src_len & PATH_MASK;
	// Sizes in [1, PATH_MAX]: bpf_skb_load_bytes takes no zero size.
	if (plen && bpf_skb_load_bytes(skb, sizeof(req), s->path, ((plen - 1) & PATH_MASK) + 1))
		return -1;
	if (slen && bpf_skb_load_bytes(skb, sizeof(req) + plen, s->src, ((slen - 1) & PATH_MASK) + 1))
		return -1;
	struct result r;
	if (req.class == CLASS_PROCESS || req.class == CLASS_FILE)
		r = decide_path(s, wl, req.class, 0, plen, req.combo, 0, slen);
	else
		r = decide_name(s, wl, req.class, req.combo, plen >= 1 ? s->path[0] : 0, plen >= 2 ? s->path[1] : 0,
				plen >= 3 ? s->path[2] : 0, 0, slen);
	return (r.action << 24) | (r.rule & 0xffffff);
}
