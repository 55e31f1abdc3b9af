//go:build ignore

// lsmprobe: the kernel lab's proof that BPF-LSM enforcement works in its guest.
// It denies exec (lsm/bprm_check_security) and open (lsm/file_open) with -EPERM,
// and only when both hold: the task's cgroup v2 id is in scoped_cgroups, and the
// file's inode is in targets with the flag for that hook. Everything else passes.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EPERM 1

enum deny_flag {
	DENY_OPEN = 1 << 0,
	DENY_EXEC = 1 << 1,
};

enum hook {
	HOOK_FILE_OPEN = 0,
	HOOK_BPRM_CHECK = 1,
	HOOK_MAX,
};

// An inode: its number and its super block's device, as the kernel encodes it.
struct inode_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64); // cgroup v2 id
	__type(value, __u8);
} scoped_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct inode_key);
	__type(value, __u32); // enum deny_flag bits
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HOOK_MAX);
	__type(key, __u32); // enum hook
	__type(value, __u64);
} denials SEC(".maps");

static __always_inline int decide(struct file *file, __u32 flag, __u32 hook)
{
	__u64 cgid = bpf_get_current_cgroup_id();
	if (!bpf_map_lookup_elem(&scoped_cgroups, &cgid))
		return 0;

	struct inode_key key = {};
	key.ino = BPF_CORE_READ(file, f_inode, i_ino);
	key.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	__u32 *flags = bpf_map_lookup_elem(&targets, &key);
	if (!flags || !(*flags & flag))
		return 0;

	__u64 *n = bpf_map_lookup_elem(&denials, &hook);
	if (n)
		__sync_fetch_and_add(n, 1);
	return -EPERM;
}

SEC("lsm/file_open")
int BPF_PROG(lsmprobe_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;
	return decide(file, DENY_OPEN, HOOK_FILE_OPEN);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(lsmprobe_bprm_check, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return decide(BPF_CORE_READ(bprm, file), DENY_EXEC, HOOK_BPRM_CHECK);
}
