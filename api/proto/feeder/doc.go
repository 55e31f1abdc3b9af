// Package feeder is the generated Go API of Bulwark's event feed, proto
// package feeder: the LogService that karmor, kubearmor-relay and log shippers
// subscribe to, and its Alert, Log and Message records.
//
// The service, method and field names and numbers are KubeArmor's, so the full
// method names (for example "/feeder.LogService/WatchAlerts") and the
// encoding/json form of the records (keys such as "Timestamp", "HostName",
// "PolicyName") match upstream. Edit feeder.proto, not the generated files,
// and run `make generate`.
package feeder
