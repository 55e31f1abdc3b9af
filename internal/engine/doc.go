// Package engine is Bulwark's decision engine: the single, executable
// definition of what a set of normalised KubeArmor policies means for one
// operation of one workload. Every kernel enforcer is an encoding of it and
// is differentially tested against it.
//
// # Use
//
// Select (or Selects) picks the policies that apply to a Workload; Compile
// selects and indexes them into a RuleSet; RuleSet.Decide turns an
// Operation into a Decision, deterministically, without allocating (beyond
// lowercasing an upper-case protocol or capability name). ResolvePostures
// and ParsePolicyMode interpret the kubearmor-*-posture and kubearmor-policy
// annotations.
//
// # Selection
//
//   - KubeArmorPolicy applies to containers of its namespace whose labels
//     include every matchLabels entry; KubeArmorClusterPolicy to containers
//     of the namespaces its `namespace` expressions select (with any In: only
//     the In namespaces; otherwise all but the NotIn ones). Host policies
//     apply only to hosts; KubeArmorNetworkPolicy (a host firewall) is not
//     decided here.
//   - `label` expressions: the values of all In expressions are ORed; a
//     NotIn value present on the workload excludes it, unless an In
//     expression came earlier in the list, in which case the NotIn is
//     ignored. A "k=v" value means label k with value v.
//   - Container names: exact names in Kubernetes; outside it
//     (Workload.Standalone) unanchored POSIX regular expressions, as
//     upstream. An invalid expression selects nothing.
//   - Host selectors: kubearmor.io/hostname (and kubernetes.io/hostname in
//     Kubernetes) is a comma list of names in which "*" is any host;
//     kubearmor.io/hostnamereg (and kubernetes.io/hostnamereg) is an anchored
//     regular expression where "*" means ".*"; any other key must equal a
//     node label, and a standalone host has none. An empty node selector
//     selects every host.
//
// # Verdicts of one rule
//
// A rule speaks about an operation when its target matches, its fromSource
// matches (if any) and its pts condition holds. It then gives one verdict.
// "Conditions" are ownerOnly (the actor's UID equals the file owner's; an
// unknown owner is never the actor), readOnly (the operation does not write)
// and allowedArgs (every argument after argv[0] is in the list).
//
//   - Allow: permits when all its conditions hold; otherwise says nothing,
//     so the operation falls to other rules and, in allow-list mode, to the
//     default posture (Allow+readOnly: writes fall through; Allow+ownerOnly:
//     non-owners fall through; Allow+allowedArgs: other arguments fall
//     through).
//   - Block: denies, except that a Block rule with conditions permits the
//     operations that meet them all (Block+readOnly: reads pass, writes are
//     denied; Block+ownerOnly: the owner passes, others are denied;
//     readOnly+ownerOnly: the owner may read, everything else is denied;
//     Block+allowedArgs: execs whose arguments are all listed pass). Such a
//     pass counts as explicit permission in allow-list mode, as in BPF-LSM
//     where the matched map entry does not deny.
//   - Audit: reports exactly what the same rule as Block would deny, and
//     never changes whether the operation is allowed. Syscall rules are
//     always Audit.
//
// # Combining verdicts
//
// The class of an operation is file (process and file operations share
// it), network, capabilities or syscalls. A class is in allow-list mode
// when at least one Allow rule of that class was selected, whatever its
// fromSource or conditions. The decision is the first that applies:
//
//  1. Some rule denies: Block. Block beats Allow on the same target
//     regardless of rule order (AppArmor agrees; upstream BPF-LSM keeps
//     whichever rule it wrote last — we do not copy that).
//  2. The class is in allow-list mode and nothing permits: the default
//     posture. With posture block: Block, source defaultPosture, policy
//     name DefaultPosture. With posture audit: Audit from the first
//     matching Audit rule if there is one (the policy is more informative
//     than the posture), otherwise Audit from the default posture.
//  3. Some Audit rule reports: Audit (also when an Allow rule permits the
//     operation: an audited allowed target is Audit, not DefaultPosture).
//  4. Some rule permits: Allow, source policy (a silent hit: Alert false).
//  5. Otherwise: Allow, source none.
//
// When several rules give the winning verdict, the decision names the
// first in precedence order: selected policies sorted by kind, namespace
// and name, then rule order within a policy.
//
// # Matching
//
//   - Paths: exact equality. execname: basename equality. Directories:
//     a non-recursive directory matches the files directly in it, a
//     recursive one files at any depth; both also match the directory
//     itself, with or without its trailing slash (BPF-LSM stores that key
//     too). Patterns: package pathglob.
//   - fromSource: the source is the parent's executable for process
//     operations and the process's own executable otherwise. A rule with
//     fromSource speaks only when the source equals one of its paths or
//     lies in one of its directories (recursively if so marked); an
//     operation without a known source never matches such a rule. An Allow
//     rule with fromSource therefore allows only for that source.
//   - pts: `pts: true` limits the rule to actors that have a controlling
//     terminal; `pts: false` and an absent pts place no terminal condition.
//     Upstream BPF-LSM treats any pts field as "terminal only", so an
//     upstream policy written with `pts: false` meaning "terminal only" is
//     enforced more broadly here (fails closed for Block rules).
//   - Network: a rule matches when its protocol equals the operation's
//     Protocol or SocketType (both may be given, e.g. tcp and stream), or
//     is "all". Names are compared in lower case.
//   - Capabilities: names compared in lower case without the "cap_" prefix,
//     so net_raw and CAP_NET_RAW are the same.
//   - Syscalls: a rule matches when the syscall is one of its names (or it
//     lists none) and, for matchPaths rules, the operation's target Path
//     equals its path or lies in its directory.
//   - DNS, device, presets and raw AppArmor lines are not decided by this
//     package: DNS rules and device rules are ignored and do not enable
//     allow-list mode.
//
// # Policy modes and postures
//
//   - enabled (the default; an unrecognised value is enabled with a
//     warning): as above.
//   - disabled: nothing is enforced or reported; every decision is Allow
//     with source none.
//   - audited: nothing is denied. A deny becomes Audit (Block), both from a
//     Block rule and from a block default posture; an Allow rule hit becomes
//     Audit (Allow), still silent (Alert false); Audit stays Audit.
//   - Postures: Workload.Postures are the configured defaults; for a
//     container, Workload.NamespaceAnnotations may override them
//     (ResolvePostures: invalid values keep the default and warn). An unset
//     posture is audit, KubeArmor's default.
//   - A malformed matchPatterns glob is skipped with a warning (the loader
//     is expected to reject it first with pathglob.Compile).
package engine
