// Package policy loads, validates, normalises and lints KubeArmor policies
// (security.kubearmor.com/v1) into the model defined in model.go.
//
// # Loading
//
// LoadPaths reads files, directories (recursively: *.yaml, *.yml, *.json)
// and "-" (standard input); LoadBytes reads one buffer. Inputs may hold
// several YAML documents, JSON, a top-level list or a kind: List. Every
// problem becomes a Diagnostic with file, line, column and the dotted JSON
// path of the offending value; loading never stops at the first problem.
// Objects of other kinds are skipped with a note, empty documents ignored.
//
// # Limits
//
// Inputs are untrusted (the loader also serves a network API), so reading
// one takes time and memory linear in its size whatever it holds. Past the
// limits below, loading reports an error diagnostic positioned at the value
// where the limit was hit and leaves out what it concerns:
//
//   - an input is at most Options.MaxFileSize bytes (default 4 MiB): "input
//     is larger than the limit of N bytes";
//   - at most 10,000 YAML documents, empty ones included: "more than 10000
//     YAML documents; the rest are not read";
//   - mappings and sequences nest at most 100 levels: "nested more than 100
//     levels deep", or "alias *a nests more than 100 levels deep";
//   - YAML aliases are accepted, as kubectl and the API server accept them,
//     but an alias inside the value it refers to is not: "alias *a refers to
//     a value that contains it"; and each alias counts as a copy of its
//     value towards the size limit of the input, which is 256Ki values
//     (keys, scalars, mappings, sequences) and 2 MiB of key and scalar text
//     per MiB of Options.MaxFileSize (at least 64 KiB), so 1,048,576 values
//     and 8 MiB at the default: "input too large: more than N values or M
//     bytes of text with aliases expanded (at alias *a)". Sizes are measured
//     before the document is read any further (an anchored value once, so a
//     "billion laughs" document is rejected in well under a millisecond),
//     and past the size limit the rest of the input is not read;
//   - at most 32Ki normalised rules (comma lists expanded) per MiB of
//     Options.MaxFileSize: "more than N rules in one input (comma lists
//     expanded)";
//   - at most 1,000 diagnostics per input are reported, then "more than 1000
//     problems; the rest are not reported"; the unreported problems still
//     keep their policies out of Result.Policies.
//
// # Validation
//
// Objects are checked against the structural schemas of the CRDs that
// controller-gen generates from api/security/v1 (embedded from
// deploy/crds), so "valid" means what a Kubernetes API server accepts:
// types, required fields (including a host policy's nodeSelector and the
// fromSource of its network and capability rules), enums, patterns and
// limits. On top of that, semantic checks catch what the schemas cannot
// express (a process matchPaths rule needs exactly one of path and
// execname; syscall fromSource dirs end in a slash; protocol and
// capability comma lists name known items; ...).
//
// By default duplicate mapping keys, unknown fields and semantic problems
// are errors: Kubernetes keeps the last duplicate and prunes unknown
// fields, which silently drops rules. With Options.Lenient they are
// warnings, so lenient loading accepts exactly what Kubernetes accepts;
// schema violations stay errors. A policy with an error is left out of
// Result.Policies.
//
// # Normalisation
//
// Normalisation follows KubeArmor's daemon:
//
//   - action, severity, tags and message are inherited rule → section →
//     spec; the action defaults to Block and is read case-insensitively
//     (a lowercase action draws a warning, since the CRD enum rejects it);
//   - syscall rules are always Audit;
//   - protocol, capability and DNS domain comma lists become one rule per
//     item with the same Section and Index; protocols and capabilities are
//     lowercased and "cap_" is stripped; domains are lowercased and lose
//     leading and trailing dots;
//   - the kubearmor.io/container.name label leaves MatchLabels for
//     Selector.ContainerNames ("[a, b]" lists; a bare value is one name);
//   - node selectors, including "*", comma lists and
//     kubearmor.io/hostnamereg, are kept verbatim in NodeLabels for the
//     engine to interpret.
//
// Where upstream is ambiguous this package decides: a KubeArmorPolicy
// without namespace keeps an empty Namespace, and the engine reads it as
// "default" in Kubernetes (what kubectl does with the default context) and
// as "container_namespace" outside it (as upstream's non-Kubernetes mode);
// a preset without action takes the spec's action and must end
// up Audit or Block; a syscall matchPaths path ending in "/" becomes a
// MatchDirectory rule, otherwise MatchPath; fromSource entries without a
// path are reported and dropped; a KubeArmorNetworkPolicy is validated
// fully but normalised only to its kind, name and selectors.
//
// # Lint
//
// Lint (also run by LoadPaths and LoadBytes) warns about valid policies
// that are probably wrong: Allow and Block on one target, duplicate rules
// and exact paths covered by a directory rule (within one policy or across
// policies with the same selector; rules are compared through indexes, so a
// rule is reported once against the first earlier rule it conflicts with or
// duplicates, and a path once per directory covering it), patterns that cannot match a path,
// Allow rules that switch a class to allow-list mode, paths longer than
// PATH_MAX or KubeArmor's 200-byte limit, and, with Options.Root, targets
// that are symlinks.
package policy
