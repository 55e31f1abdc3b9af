package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
	"github.com/bulwark-security/bulwark/internal/certs"
)

// Defaults of `bulwark logs`.
const (
	logsDefaultAddress = "localhost:32767"
	logsAddressEnv     = "BULWARK_GRPC"
)

type logsOptions struct {
	address                      string
	filter                       string
	json                         bool
	output                       string
	operation, policy, container string
	namespace, pod, logType      string
	resource, source             string
	limit                        int
	tlsCA, tlsCert, tlsKey       string
	tlsCertPath                  string
	resourceRE, sourceRE         *regexp.Regexp
}

func newLogsCommand() *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Stream alerts and logs from a bulwarkd (or KubeArmor) agent",
		Long: `logs subscribes to the agent's LogService over gRPC and prints alerts
(--logFilter policy, the default), logs (system) or both (all), one record a
line, until interrupted or until --limit records were printed.

The address comes from --gRPC, else $` + logsAddressEnv + `, else ` + logsDefaultAddress + `.
It may be host:port, a bare port on localhost, or unix:///path/to.sock.
The record filters (--operation, --policy, --namespace, ...) are applied here,
on the client; --resource and --source are regular expressions.`,
		Example: `  bulwark logs
  bulwark logs --logFilter all -o json --namespace web
  bulwark logs --gRPC unix:///run/bulwark/bulwark.sock --operation File --limit 10`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.address, "gRPC", "", "agent address (host:port, port or unix:///path; default $"+logsAddressEnv+" or "+logsDefaultAddress+")")
	f.StringVar(&o.filter, "logFilter", "policy", "what to stream: policy (alerts), system (logs) or all")
	f.BoolVar(&o.json, "json", false, "print JSON, like -o json")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or pretty-json")
	f.StringVar(&o.operation, "operation", "", "only records of this operation (Process, File, Network, Capabilities, Syscall, ...)")
	f.StringVar(&o.policy, "policy", "", "only alerts of this policy")
	f.StringVar(&o.container, "container", "", "only records of this container name")
	f.StringVarP(&o.namespace, "namespace", "n", "", "only records of this namespace")
	f.StringVar(&o.pod, "pod", "", "only records of this pod")
	f.StringVar(&o.resource, "resource", "", "only records whose resource matches this regular expression")
	f.StringVar(&o.source, "source", "", "only records whose source matches this regular expression")
	f.StringVar(&o.logType, "logType", "", "only container (ContainerLog) or host (HostLog) records")
	f.IntVar(&o.limit, "limit", 0, "exit after this many records (0: no limit)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate to verify the agent with (turns on TLS)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "client certificate for mTLS (with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "client key for mTLS")
	f.StringVar(&o.tlsCertPath, "tlsCertPath", "", "the agent's tlsCertPath with tlsCertProvider self: its ca.crt, client.crt and client.key (root only)")
	completeWords(cmd, "logFilter", "policy", "system", "all")
	completeWords(cmd, "output", "text", "json", "pretty-json")
	completeWords(cmd, "logType", "ContainerLog", "HostLog")
	completeWords(cmd, "operation", "Process", "File", "Network", "Capabilities", "Syscall", "Device", "NetworkFirewall", "AlertThreshold")
	return cmd
}

func (o *logsOptions) complete(cmd *cobra.Command) error {
	if o.address == "" {
		o.address = os.Getenv(logsAddressEnv)
	}
	if o.address == "" {
		o.address = logsDefaultAddress
	}
	if strings.Trim(o.address, "0123456789") == "" {
		o.address = "localhost:" + o.address
	}
	switch o.filter {
	case "policy", "system", "all":
	default:
		return usageError("--logFilter %q: want policy, system or all", o.filter)
	}
	if o.json {
		if cmd.Flags().Changed("output") && o.output != "json" {
			return usageError("--json conflicts with --output %s", o.output)
		}
		o.output = "json"
	}
	switch o.output {
	case "text", "json", "pretty-json":
	default:
		return usageError("--output %q: want text, json or pretty-json", o.output)
	}
	switch o.logType {
	case "", "ContainerLog", "HostLog":
	default:
		return usageError("--logType %q: want ContainerLog or HostLog", o.logType)
	}
	if o.limit < 0 {
		return usageError("--limit %d: must not be negative", o.limit)
	}
	var err error
	if o.resource != "" {
		if o.resourceRE, err = regexp.Compile(o.resource); err != nil {
			return usageError("--resource: %w", err)
		}
	}
	if o.source != "" {
		if o.sourceRE, err = regexp.Compile(o.source); err != nil {
			return usageError("--source: %w", err)
		}
	}
	if o.tlsCertPath != "" {
		if o.tlsCA != "" || o.tlsCert != "" || o.tlsKey != "" {
			return usageError("--tlsCertPath conflicts with --tls-ca, --tls-cert and --tls-key")
		}
		o.tlsCA = filepath.Join(o.tlsCertPath, certs.CACert)
		o.tlsCert = filepath.Join(o.tlsCertPath, certs.ClientCert)
		o.tlsKey = filepath.Join(o.tlsCertPath, certs.ClientKey)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError("--tls-cert and --tls-key go together")
	}
	return nil
}

func (o *logsOptions) credentials() (credentials.TransportCredentials, error) {
	if o.tlsCA == "" && o.tlsCert == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tlsCA != "" {
		pem, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates", o.tlsCA)
		}
	}
	if o.tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// logRecord is an alert or a log, with the fields the filters and the text
// format use.
type logRecord struct {
	msg  any // *feeder.Alert or *feeder.Log, for JSON output
	view struct {
		time, typ, action, operation, resource, source, process string
		namespace, pod, container, containerID, host, policy    string
	}
}

// logsEvent is what feeder.Alert and feeder.Log have in common.
type logsEvent interface {
	GetUpdatedTime() string
	GetType() string
	GetOperation() string
	GetResource() string
	GetSource() string
	GetProcessName() string
	GetNamespaceName() string
	GetPodName() string
	GetContainerName() string
	GetContainerID() string
	GetHostName() string
}

func newLogRecord(e logsEvent, action, policy string) logRecord {
	r := logRecord{msg: e}
	v := &r.view
	v.time, v.typ, v.action, v.operation = e.GetUpdatedTime(), e.GetType(), action, e.GetOperation()
	v.resource, v.source, v.process = e.GetResource(), e.GetSource(), e.GetProcessName()
	v.namespace, v.pod, v.container, v.containerID = e.GetNamespaceName(), e.GetPodName(), e.GetContainerName(), e.GetContainerID()
	v.host, v.policy = e.GetHostName(), policy
	return r
}

func alertRecord(a *feeder.Alert) logRecord { return newLogRecord(a, a.GetAction(), a.GetPolicyName()) }

// logLogRecord shows a log's Result where alerts show their Action.
func logLogRecord(l *feeder.Log) logRecord { return newLogRecord(l, l.GetResult(), "") }

func (o *logsOptions) match(r *logRecord) bool {
	v := &r.view
	switch {
	case o.operation != "" && !strings.EqualFold(v.operation, o.operation),
		o.policy != "" && v.policy != o.policy,
		o.container != "" && v.container != o.container,
		o.namespace != "" && v.namespace != o.namespace,
		o.pod != "" && v.pod != o.pod,
		o.resourceRE != nil && !o.resourceRE.MatchString(v.resource),
		o.sourceRE != nil && !o.sourceRE.MatchString(v.source):
		return false
	}
	switch o.logType {
	case "ContainerLog":
		return v.typ == "ContainerLog" || (v.typ != "HostLog" && v.containerID != "")
	case "HostLog":
		return v.typ == "HostLog" || (v.typ != "ContainerLog" && v.containerID == "")
	}
	return true
}

func (o *logsOptions) format(w io.Writer, r *logRecord) error {
	switch o.output {
	case "json":
		b, err := json.Marshal(r.msg)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "pretty-json":
		b, err := json.MarshalIndent(r.msg, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	v := &r.view
	workload := "host:" + v.host
	if v.containerID != "" || v.pod != "" {
		workload = v.namespace + "/" + v.pod + "/" + v.container
	}
	line := fmt.Sprintf("%s %s %s %s %s process=%s workload=%s", dash(v.time), dash(v.typ), dash(v.action),
		dash(v.operation), dash(v.resource), dash(v.process), workload)
	if v.policy != "" {
		line += " policy=" + safeText(v.policy)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// dash shows an empty field as "-" and quotes text with control characters
// or spaces, so one record stays one line.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return safeText(s)
}

func safeText(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return strconv.Quote(s)
	}
	return s
}

func (o *logsOptions) run(ctx context.Context, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	creds, err := o.credentials()
	if err != nil {
		return usageError("%w", err)
	}
	conn, err := grpc.NewClient(o.address, grpc.WithTransportCredentials(creds))
	if err != nil {
		return usageError("--gRPC %q: %w", o.address, err)
	}
	defer conn.Close()
	client := feeder.NewLogServiceClient(conn)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	records := make(chan logRecord, 64)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	if o.filter == "policy" || o.filter == "all" {
		s, err := client.WatchAlerts(ctx, &feeder.RequestMessage{Filter: o.streamFilter("policy")})
		if err != nil {
			return fmt.Errorf("watch alerts at %s: %w", o.address, err)
		}
		wg.Go(func() { errc <- pump(ctx, s, records, alertRecord) })
	}
	if o.filter == "system" || o.filter == "all" {
		s, err := client.WatchLogs(ctx, &feeder.RequestMessage{Filter: o.streamFilter("system")})
		if err != nil {
			return fmt.Errorf("watch logs at %s: %w", o.address, err)
		}
		wg.Go(func() { errc <- pump(ctx, s, records, logLogRecord) })
	}
	go func() {
		wg.Wait()
		close(records)
	}()

	printed := 0
	for r := range records {
		if !o.match(&r) {
			continue
		}
		if err := o.format(out, &r); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		printed++
		if o.limit > 0 && printed >= o.limit {
			cancel()
			return nil
		}
	}
	close(errc)
	for err := range errc {
		if err != nil {
			return fmt.Errorf("stream from %s: %w", o.address, err)
		}
	}
	return nil
}

// streamFilter is the filter sent to the agent for one stream.
func (o *logsOptions) streamFilter(own string) string {
	if o.filter == "all" {
		return "all"
	}
	return own
}

// pump forwards one stream's records until it ends. The stream ending
// (io.EOF) or the caller cancelling is not an error.
func pump[T any](ctx context.Context, s grpc.ServerStreamingClient[T], out chan<- logRecord, conv func(*T) logRecord) error {
	for {
		m, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		select {
		case out <- conv(m):
		case <-ctx.Done():
			return nil
		}
	}
}
