// Package identity turns container runtimes' views into workload
// identities: which container a cgroup v2 id (the kernel's
// bpf_get_current_cgroup_id) or a PID belongs to, with its name, image,
// labels, Kubernetes pod, namespaces and lifetime.
//
// # Use
//
// A Registry is fed by Sources, one per runtime endpoint (the containerd,
// docker and cri subpackages, cri for CRI-O; discover builds them from
// configured and well-known sockets). Start runs them until its context ends. Lookup and
// LookupPID answer from memory; Subscribe streams Added, Updated and
// Removed events (after the current containers) so enforcers can keep
// per-workload entries in step.
//
// A container's identity is one run of it: a restarted container has a new
// cgroup id, init PID and start time, and the old identity is Removed when
// its task exits or is deleted (cgroup ids may be reused).
//
// # Early events
//
// The kernel can report a container's first events before the runtime
// reports the container. Pending holds such events, keyed by cgroup id,
// until the container appears (then they are enriched) or until MaxWait
// passes (then they are emitted with the container id derived from the
// cgroup path and counted), as KubeArmor's replay queue does. Events of
// host cgroups are never held.
//
// # Policies
//
// Container.Workload gives the engine.Workload for policy selection:
// Kubernetes pods use the pod namespace, labels and container name;
// everything else is Standalone, in the namespace of the
// kubearmor.io/namespace label (default "container_namespace"), where
// kubearmor.io/container.name selectors are regular expressions.
// SelectPolicies applies engine.Select to it.
package identity
