//go:build ignore

// Bulwark system monitor: process, file, network and capability telemetry
// from attach points that need neither kprobes nor trampolines:
// tp_btf/sched_process_{exec,fork,exit}, tp_btf/sys_{enter,exit} and
// tp_btf/cap_capable. Observation only: no program here changes what a
// process may do.

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Event kinds (event_header.type). */
enum event_type {
	EVENT_EXEC = 1,
	EVENT_FORK = 2,
	EVENT_EXIT = 3,
	EVENT_SYSCALL = 4,
	EVENT_CAPABLE = 5,
};

/* Visibility classes, also the values of sys_class[]. */
enum vis_class {
	VIS_PROCESS = 1,
	VIS_FILE = 2,
	VIS_NETWORK = 4,
	VIS_CAPABILITIES = 8,
};

/* event_header.flags */
enum event_flags {
	FLAG_HOST = 1,       /* acting task shares the host's mount namespace */
	FLAG_TREE_ONLY = 2,  /* for the process tree only: its class is not visible */
	FLAG_SCRIPT = 4,     /* exec of an interpreted script (binfmt_script) */
	FLAG_TRUNCATED = 8,  /* a path or argument section was cut short */
};

#define NSTR 4

/* Fixed part of every ring-buffer record; NSTR string sections of
 * str_len[i] bytes follow in order. */
struct event_header {
	__u64 ts;        /* CLOCK_BOOTTIME ns */
	__u64 cgroup_id; /* cgroup v2 id of the acting task */
	__s64 retval;    /* syscall result, capability check result, exit code */
	__u64 args[6];   /* raw syscall arguments (see the Go decoder) */
	__u32 type;
	__u32 flags;
	__u32 nr;        /* syscall number, or capability number */
	__u32 host_pid;  /* tgid in the initial pid namespace */
	__u32 host_tid;
	__u32 host_ppid;
	__u32 pid;       /* tgid in the task's own pid namespace */
	__u32 ppid;      /* parent tgid in that namespace, 0 when outside */
	__u32 uid;
	__u32 gid;
	__u32 pid_ns;
	__u32 mnt_ns;
	__u8 comm[16];
	__u16 str_len[NSTR];
};

/* Saved syscall arguments, from sys_enter to sys_exit. */
struct pending {
	__u64 args[6];
	__u32 nr;
	__u32 visible; /* the class is visible (else only a failure is reported) */
};

#define SCRATCH_SIZE 16384
#define SCRATCH_MASK (SCRATCH_SIZE - 1)
#define MAX_COMPONENTS 40
#define NAME_LEN 256
#define PATH_LIMIT 4096
#define ARGV_LIMIT 1024
#define STR_LIMIT 4096
#define SOCKADDR_LIMIT 128

struct scratch {
	__u8 buf[SCRATCH_SIZE + PATH_LIMIT + NAME_LEN];
};

/* Configuration fixed at load time. */
const volatile __u64 host_mnt_ns = 0;
const volatile __u32 drop_enoent = 1;
const volatile __u32 drop_einprogress = 1;
const volatile __u32 report_failures = 0; /* failed syscalls of invisible classes */
const volatile __u64 wakeup_bytes = 0;    /* 0: wake the reader for every record */

/* Runtime switch: non-zero turns every program into an early return. */
volatile __u32 monitor_off = 0;
/* Visibility of tasks whose cgroup has no entry in the visibility map. */
volatile __u32 host_visibility = 0;
volatile __u32 default_visibility = 0;

/* Class of each monitored x86-64 syscall number; 0 for all others. */
static const __u8 sys_class[512] = {
	[2] = VIS_FILE,   /* open */
	[257] = VIS_FILE, /* openat */
	[437] = VIS_FILE, /* openat2 */
	[87] = VIS_FILE,  /* unlink */
	[263] = VIS_FILE, /* unlinkat */
	[84] = VIS_FILE,  /* rmdir */
	[83] = VIS_FILE,  /* mkdir */
	[258] = VIS_FILE, /* mkdirat */
	[82] = VIS_FILE,  /* rename */
	[264] = VIS_FILE, /* renameat */
	[316] = VIS_FILE, /* renameat2 */
	[90] = VIS_FILE,  /* chmod */
	[268] = VIS_FILE, /* fchmodat */
	[452] = VIS_FILE, /* fchmodat2 */
	[92] = VIS_FILE,  /* chown */
	[94] = VIS_FILE,  /* lchown */
	[260] = VIS_FILE, /* fchownat */
	[41] = VIS_NETWORK,  /* socket */
	[42] = VIS_NETWORK,  /* connect */
	[43] = VIS_NETWORK,  /* accept */
	[288] = VIS_NETWORK, /* accept4 */
	[49] = VIS_NETWORK,  /* bind */
	[50] = VIS_NETWORK,  /* listen */
	[105] = VIS_CAPABILITIES, /* setuid */
	[106] = VIS_CAPABILITIES, /* setgid */
	[101] = VIS_CAPABILITIES, /* ptrace */
	[165] = VIS_CAPABILITIES, /* mount */
	[166] = VIS_CAPABILITIES, /* umount2 */
	[59] = VIS_PROCESS,  /* execve: failures only, success is sched_process_exec */
	[322] = VIS_PROCESS, /* execveat */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); /* resized by the loader */
} events SEC(".maps");

/* cgroup id -> visibility mask, for workloads that differ from the
 * defaults. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} visibility SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct pending);
} pending_args SEC(".maps");

/* [0]: records lost because the ring buffer was full; [1]: syscalls lost
 * because pending_args was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");


/* Keeps struct event_header in BTF for bpf2go -type (never read). */
const struct event_header *event_header_btf __attribute__((unused));

static __always_inline void count_drop(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&drops, &idx);
	if (c)
		*c += 1;
}

/* Direct loads through BTF pointers (PROBE_MEM) are much cheaper than
 * bpf_probe_read_kernel calls; they are used on every hot path. */
static __always_inline __u32 task_mnt_ns(struct task_struct *t)
{
	return t->nsproxy->mnt_ns->ns.inum;
}

/* visibility_of returns the class mask for the current task: its cgroup's
 * entry, else the host or container default. */
static __always_inline __u32 visibility_of(struct task_struct *t)
{
	__u64 key = bpf_get_current_cgroup_id();
	__u32 *v = bpf_map_lookup_elem(&visibility, &key);
	if (v)
		return *v;
	return task_mnt_ns(t) == host_mnt_ns ? host_visibility : default_visibility;
}

/* wake_flags wakes the reader only when this record makes the waiting data
 * cross wakeup_bytes; the reader's timer drains the rest. */
static __always_inline __u64 wake_flags(__u32 len)
{
	if (!wakeup_bytes)
		return 0;
	__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (avail < wakeup_bytes && avail + len + 8 >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline struct event_header *scratch_header(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	return (struct event_header *)s->buf;
}

/* pid_of reads the number of pid p in its deepest namespace, and that
 * namespace. */
static __always_inline int pid_of(struct pid *p, __u32 *nr, struct pid_namespace **ns, __u32 *level)
{
	struct upid up = {};
	__u32 l = p->level;
	if (bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[l & 31]))
		return -1;
	*nr = up.nr;
	*ns = up.ns;
	*level = l & 31;
	return 0;
}

static __always_inline void fill_header(struct event_header *h, struct task_struct *t, __u32 type)
{
	struct task_struct *parent = t->real_parent;
	struct pid_namespace *ns = 0;
	__u32 level = 0, nr = 0;
	__u64 uidgid = bpf_get_current_uid_gid();

	h->ts = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->type = type;
	h->flags = 0;
	h->host_pid = t->tgid;
	h->host_tid = t->pid;
	h->host_ppid = parent->tgid;
	h->uid = (__u32)uidgid;
	h->gid = uidgid >> 32;
	h->pid = 0;
	h->ppid = 0;
	h->pid_ns = 0;
	if (pid_of(t->group_leader->thread_pid, &nr, &ns, &level) == 0) {
		h->pid = nr;
		h->pid_ns = BPF_CORE_READ(ns, ns.inum);
		if (level == 0) {
			h->ppid = h->host_ppid;
		} else {
			struct pid *pp = parent->group_leader->thread_pid;
			if (pp->level >= level) {
				struct upid up = {};
				bpf_probe_read_kernel(&up, sizeof(up), &pp->numbers[level & 31]);
				if (up.ns == ns)
					h->ppid = up.nr;
			}
		}
	}
	h->mnt_ns = task_mnt_ns(t);
	if (h->mnt_ns == host_mnt_ns)
		h->flags |= FLAG_HOST;
	bpf_get_current_comm(&h->comm, sizeof(h->comm));
	for (int i = 0; i < NSTR; i++)
		h->str_len[i] = 0;
}

struct walk_ctx {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *m;
	__u32 off; /* where the path starts in the scratch buffer */
	__u32 n;   /* bytes written so far */
	__u32 truncated;
};

/* walk_step writes one component (or crosses one mount); returns 1 to stop. */
static long walk_step(__u64 i, struct walk_ctx *c)
{
	/* locals, so that CO-RE access chains start at kernel types */
	struct dentry *d = c->d;
	struct vfsmount *vm = c->vm;
	struct mount *m = c->m;
	struct dentry *root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == root || d == parent) {
		if (d != root)
			return 1;
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);
		if (mp == m)
			return 1;
		c->d = BPF_CORE_READ(m, mnt_mountpoint);
		c->m = mp;
		c->vm = __builtin_preserve_access_index(&mp->mnt);
		return 0;
	}
	if (c->n >= PATH_LIMIT - NAME_LEN) {
		c->truncated = 1;
		return 1;
	}
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long r = bpf_probe_read_kernel_str(s->buf + ((c->off + c->n) & SCRATCH_MASK), NAME_LEN, name);
	if (r <= 0)
		return 1;
	c->n += r;
	c->d = parent;
	return 0;
}

/* append_path writes the components of path leaf first, each ending in NUL,
 * at buf+off, and returns the number of bytes written. User space reverses
 * them. */
static __always_inline __u32 append_path(__u32 off, const struct path *path, __u32 *flags)
{
	struct walk_ctx c = {
		.d = BPF_CORE_READ(path, dentry),
		.vm = BPF_CORE_READ(path, mnt),
		.off = off,
	};
	c.m = container_of(c.vm, struct mount, mnt);
	long loops = bpf_loop(MAX_COMPONENTS, walk_step, &c, 0);
	if (c.truncated || loops >= MAX_COMPONENTS)
		*flags |= FLAG_TRUNCATED;
	return c.n > PATH_LIMIT ? PATH_LIMIT : c.n;
}

static __always_inline __u32 append_user_str(__u8 *buf, __u32 off, const void *p)
{
	if (!p)
		return 0;
	long r = bpf_probe_read_user_str(buf + (off & SCRATCH_MASK), STR_LIMIT, p);
	return r > 0 ? r : 0;
}

static __always_inline void emit(__u8 *buf, __u32 len)
{
	if (len > SCRATCH_SIZE)
		len = SCRATCH_SIZE;
	if (len < sizeof(struct event_header))
		return;
	if (bpf_ringbuf_output(&events, buf, len, wake_flags(len)))
		count_drop(0);
}

/* begin_event returns the scratch header filled for task t, or NULL when
 * the monitor is off or nothing of t's workload is visible. */
static __always_inline struct event_header *begin_event(struct task_struct *t, __u32 type, __u32 *vis)
{
	if (monitor_off)
		return 0;
	*vis = visibility_of(t);
	if (!*vis)
		return 0;
	struct event_header *h = scratch_header();
	if (h)
		fill_header(h, t, type);
	return h;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *t, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 vis = 0;
	struct event_header *h = begin_event(t, EVENT_EXEC, &vis);
	if (!h)
		return 0;
	__u8 *buf = (__u8 *)h;
	if (!(vis & VIS_PROCESS))
		h->flags |= FLAG_TREE_ONLY;
	h->args[0] = old_pid;

	__u32 off = sizeof(*h);
	__u32 n;

	/* 0: resolved executable (the script for interpreted files, see 4) */
	struct file *f = BPF_CORE_READ(bprm, file);
	n = append_path(off, __builtin_preserve_access_index(&f->f_path), &h->flags);
	h->str_len[0] = n;
	off += n;

	/* 1: argv, NUL separated */
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	unsigned long as = BPF_CORE_READ(mm, arg_start), ae = BPF_CORE_READ(mm, arg_end);
	if (ae > as) {
		__u64 len = ae - as;
		if (len > ARGV_LIMIT) {
			len = ARGV_LIMIT;
			h->flags |= FLAG_TRUNCATED;
		}
		if (bpf_probe_read_user(buf + (off & SCRATCH_MASK), len & (ARGV_LIMIT * 2 - 1), (void *)as) == 0) {
			h->str_len[1] = len;
			off += len;
		}
	}

	/* 2: cwd */
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	n = append_path(off, __builtin_preserve_access_index(&fs->pwd), &h->flags);
	h->str_len[2] = n;
	off += n;

	/* 3: tty name, or for a script the file name as passed to execve */
	const char *fname = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (fname != interp) {
		h->flags |= FLAG_SCRIPT;
		long r = bpf_probe_read_kernel_str(buf + (off & SCRATCH_MASK), STR_LIMIT, fname);
		if (r > 0) {
			h->str_len[3] = r;
			off += r;
		}
	}
	/* the header lives in a reused per-CPU buffer: clear the tty slot so a
	 * process without a terminal does not inherit an earlier event's bytes */
	h->args[1] = 0;
	h->args[2] = 0;
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (tty) {
		/* tty goes in args[1..2] as up to 16 bytes of its name */
		bpf_probe_read_kernel_str(&h->args[1], 16, __builtin_preserve_access_index(&tty->name));
	}
	emit(buf, off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a new process */
	__u32 vis = 0;
	struct event_header *h = begin_event(child, EVENT_FORK, &vis);
	if (!h)
		return 0;
	/* child->real_parent is the parent, but for CLONE_PARENT; report the
	 * creator too */
	h->args[0] = parent->tgid;
	h->flags |= FLAG_TREE_ONLY;
	emit((__u8 *)h, sizeof(*h));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *t)
{
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&pending_args, &id);
	/* The tracepoint gained a group_dead argument only in 6.x (after 6.1);
	 * do_exit has already decremented signal->live when it fires, so a
	 * zero count means the whole process is gone, on every kernel. */
	if (BPF_CORE_READ(t, signal, live.counter) != 0)
		return 0;
	__u32 vis = 0;
	struct event_header *h = begin_event(t, EVENT_EXIT, &vis);
	if (!h)
		return 0;
	h->retval = t->exit_code;
	h->flags |= FLAG_TREE_ONLY;
	emit((__u8 *)h, sizeof(*h));
	return 0;
}

SEC("tp_btf/cap_capable")
int BPF_PROG(handle_capable, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	if (monitor_off)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 vis = visibility_of(t);
	if (!(vis & VIS_CAPABILITIES) && !(report_failures && ret))
		return 0;
	struct event_header *h = scratch_header();
	if (!h)
		return 0;
	fill_header(h, t, EVENT_CAPABLE);
	h->nr = cap;
	h->retval = ret;
	if (!(vis & VIS_CAPABILITIES))
		h->flags |= FLAG_TREE_ONLY;
	emit((__u8 *)h, sizeof(*h));
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	if ((unsigned long)id >= 512)
		return 0;
	__u32 class = sys_class[id];
	if (!class || monitor_off)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 vis = visibility_of(t) & class;
	if (!vis && !report_failures)
		return 0;
	struct pending p = {
		.nr = id,
		.visible = vis != 0,
	};
	p.args[0] = regs->di;
	p.args[1] = regs->si;
	p.args[2] = regs->dx;
	p.args[3] = regs->r10;
	p.args[4] = regs->r8;
	p.args[5] = regs->r9;
	__u64 key = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pending_args, &key, &p, BPF_ANY))
		count_drop(1);
	return 0;
}

/* path_args tells which arguments of syscall nr are user path strings
 * (first, second) and which is a sockaddr; -1 for none. */
static __always_inline void path_args(__u32 nr, int *s0, int *s1, int *sa)
{
	*s0 = -1;
	*s1 = -1;
	*sa = -1;
	switch (nr) {
	case 2: case 87: case 84: case 83: case 90: case 92: case 94: case 166: case 59:
		*s0 = 0;
		break;
	case 257: case 437: case 263: case 258: case 268: case 452: case 260: case 322:
		*s0 = 1;
		break;
	case 82:
		*s0 = 0;
		*s1 = 1;
		break;
	case 264: case 316:
		*s0 = 1;
		*s1 = 3;
		break;
	case 165: /* mount(source, target, fstype, ...) */
		*s0 = 0;
		*s1 = 1;
		break;
	case 42: case 49: case 43: case 288:
		*sa = 1;
		break;
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	if ((unsigned long)id >= 512)
		return 0;
	__u32 class = sys_class[id];
	if (!class)
		return 0;
	__u64 key = bpf_get_current_pid_tgid();
	struct pending *pp = bpf_map_lookup_elem(&pending_args, &key);
	if (!pp)
		return 0;
	struct pending p = *pp;
	bpf_map_delete_elem(&pending_args, &key);
	if (p.nr != id || monitor_off)
		return 0;
	if (!p.visible && ret >= 0)
		return 0;
	if (class == VIS_PROCESS && ret >= 0)
		return 0; /* a successful exec is reported by sched_process_exec */
	if (ret == -2 /* ENOENT */ && drop_enoent && (class == VIS_FILE || class == VIS_PROCESS))
		return 0;
	if (ret == -115 /* EINPROGRESS */ && drop_einprogress && class == VIS_NETWORK)
		return 0;

	struct event_header *h = scratch_header();
	if (!h)
		return 0;
	__u8 *buf = (__u8 *)h;
	struct task_struct *t = bpf_get_current_task_btf();
	fill_header(h, t, EVENT_SYSCALL);
	if (!p.visible)
		h->flags |= FLAG_TREE_ONLY;
	h->nr = id;
	h->retval = ret;
	for (int i = 0; i < 6; i++)
		h->args[i] = p.args[i];

	if (id == 437) { /* openat2: flags and mode from struct open_how */
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (void *)p.args[2]) == 0) {
			h->args[2] = how.flags;
			h->args[3] = how.mode;
		}
	}

	int s0, s1, sa;
	path_args(id, &s0, &s1, &sa);
	__u32 off = sizeof(*h);
	__u32 n;
	if (s0 >= 0) {
		n = append_user_str(buf, off, (void *)p.args[s0 & 7]);
		h->str_len[0] = n;
		off += n;
		/* relative path: add the working directory */
		if (n > 1 && buf[(sizeof(*h)) & SCRATCH_MASK] != '/') {
			struct fs_struct *fs = BPF_CORE_READ(t, fs);
			n = append_path(off, __builtin_preserve_access_index(&fs->pwd), &h->flags);
			h->str_len[2] = n;
			off += n;
		}
	}
	if (s1 >= 0) {
		n = append_user_str(buf, off, (void *)p.args[s1 & 7]);
		h->str_len[1] = n;
		off += n;
	}
	if (id == 165) { /* mount fstype */
		n = append_user_str(buf, off, (void *)p.args[2]);
		h->str_len[3] = n;
		off += n;
	}
	if (sa >= 0) {
		void *addr = (void *)p.args[1];
		__u64 alen = p.args[2];
		if ((id == 43 || id == 288)) {
			int l = 0;
			if (ret < 0 || !addr || !alen || bpf_probe_read_user(&l, sizeof(l), (void *)alen))
				addr = 0;
			alen = l;
		}
		if (addr && alen) {
			if (alen > SOCKADDR_LIMIT)
				alen = SOCKADDR_LIMIT;
			if (bpf_probe_read_user(buf + (off & SCRATCH_MASK), alen & (SOCKADDR_LIMIT * 2 - 1), addr) == 0) {
				h->str_len[3] = alen;
				off += alen;
			}
		}
	}
	emit(buf, off);
	return 0;
}
