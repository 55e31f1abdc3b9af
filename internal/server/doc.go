// Package server is bulwarkd's gRPC server: KubeArmor's feeder.LogService
// (alerts, logs and daemon messages from the pipeline), policy.PolicyService
// and policy.ProbeService (when a PolicyAPI is given), grpc.health.v1 and
// server reflection.
//
// It is secure by default: it listens on 127.0.0.1:32767, and it refuses to
// start when the policy API would be reachable on a non-loopback TCP address
// without mutual TLS. LogService alone may be served on any address.
package server
