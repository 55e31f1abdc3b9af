// Package pipeline is the agent's alert and log pipeline: producers (the
// monitor, the enforcers, the policy matcher) publish KubeArmor-shaped
// records, and the pipeline stamps, throttles and fans them out to the log
// sink (stdout or a JSON-lines file) and to subscribers such as the gRPC
// LogService streams.
//
// # Flow
//
// PublishAlert, PublishLog and PublishMessage never block: a record goes into
// a bounded input queue, or is dropped and counted (reason "queue_full") when
// the queue is full. One dispatcher goroutine, run by Start, takes records in
// order, fills in ClusterName, HostName, NodeID, Timestamp and UpdatedTime
// when a record lacks them, applies alert throttling, and hands the record to
//
//   - the sink, which has its own bounded queue and goroutine, writes one
//     JSON object per line, byte-identical to encoding/json of the record
//     (package jsonline), so keys are KubeArmor's field names: "Timestamp",
//     "PolicyName", ...; alerts and logs share the
//     stream and are told apart by their Type. Strings need not be UTF-8
//     (kernel file names are bytes): invalid bytes are written as U+FFFD,
//     as encoding/json does, and package server repairs records the same
//     way for gRPC, so producers publish what the kernel gave them;
//   - every subscriber of the record's kind, each through its own bounded
//     queue. A subscriber that falls behind loses records (counted per
//     subscriber and in metrics, with a warning every 10000 drops); it never
//     slows the pipeline or other subscribers.
//
// Records from one producer keep their order everywhere. Records are shared,
// not copied: once published, a record belongs to the pipeline and must not
// be modified by the producer or by any subscriber.
//
// # Throttling
//
// Alerts are throttled per workload, as upstream KubeArmor, and per rule of
// a workload. A workload is a container (ContainerID) or the host; a rule is
// named by ThrottleOptions.RuleKey (default RuleKey: policy name, operation,
// severity, tags and message).
//
//   - Rule budget: when one rule of a workload raises more than
//     MaxAlertsPerSec alerts within a second, the pipeline emits an alert
//     with Type "SystemEvent", Operation "AlertThreshold", the rule's
//     PolicyName, MaxAlertsPerSec and DroppingAlertsInterval, and drops that
//     rule's alerts for ThrottleSec seconds. Alerts of a muted rule do not
//     count against the workload's budget.
//   - Workload budget: when a workload raises more than MaxAlertsPerSec
//     alerts within a second, the pipeline emits the same SystemEvent
//     without PolicyName (upstream's notice) and drops the workload's alerts
//     for ThrottleSec seconds.
//   - Exemptions: the first alert of a rule in each throttle interval, and
//     the first Block alert of a rule in each throttle interval, are always
//     delivered, so a noisy Audit rule can never hide a Block (or the first
//     sign of any other rule).
//
// Logs and messages are never throttled.
package pipeline
