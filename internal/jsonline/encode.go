package jsonline

import (
	"slices"
	"strconv"
	"strings"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// Escaping selects how <, > and & are written inside strings.
type Escaping uint8

const (
	// EscapeHTML writes <, > and & as \u003c, \u003e and \u0026, as
	// json.Marshal does.
	EscapeHTML Escaping = iota
	// NoEscapeHTML writes them as they are, as a json.Encoder after
	// SetEscapeHTML(false) does.
	NoEscapeHTML
)

// AppendAlert appends json.Marshal(a) to dst.
func AppendAlert(dst []byte, a *feeder.Alert) []byte { return EscapeHTML.AppendAlert(dst, a) }

// AppendLog appends json.Marshal(l) to dst.
func AppendLog(dst []byte, l *feeder.Log) []byte { return EscapeHTML.AppendLog(dst, l) }

// AppendMessage appends json.Marshal(m) to dst.
func AppendMessage(dst []byte, m *feeder.Message) []byte { return EscapeHTML.AppendMessage(dst, m) }

// The json names of each struct's fields in declaration order, each as
// the `,"Name":` that precedes its value. The encode functions below write
// the fields in this order; enc.close checks that they used every name.
var (
	alertKeys = [...]string{
		`,"Timestamp":`, `,"UpdatedTime":`, `,"ClusterName":`, `,"HostName":`, `,"NamespaceName":`, `,"Owner":`,
		`,"PodName":`, `,"Labels":`, `,"ContainerID":`, `,"ContainerName":`, `,"ContainerImage":`,
		`,"HostPPID":`, `,"HostPID":`, `,"PPID":`, `,"PID":`, `,"UID":`, `,"ParentProcessName":`, `,"ProcessName":`,
		`,"PolicyName":`, `,"Severity":`, `,"Tags":`, `,"ATags":`, `,"Message":`, `,"Type":`, `,"Source":`,
		`,"Operation":`, `,"Resource":`, `,"Data":`, `,"EventData":`, `,"Enforcer":`, `,"Action":`, `,"Result":`,
		`,"Cwd":`, `,"TTY":`, `,"MaxAlertsPerSec":`, `,"DroppingAlertsInterval":`, `,"ExecEvent":`,
		`,"KubeArmorVersion":`, `,"NodeID":`, `,"ProcessHash":`, `,"ParentHash":`, `,"ResourceHash":`,
		`,"HashAlgo":`, `,"UserName":`,
	}
	logKeys = [...]string{
		`,"Timestamp":`, `,"UpdatedTime":`, `,"ClusterName":`, `,"HostName":`, `,"NamespaceName":`, `,"Owner":`,
		`,"PodName":`, `,"Labels":`, `,"ContainerID":`, `,"ContainerName":`, `,"ContainerImage":`,
		`,"ParentProcessName":`, `,"ProcessName":`, `,"HostPPID":`, `,"HostPID":`, `,"PPID":`, `,"PID":`, `,"UID":`,
		`,"Type":`, `,"Source":`, `,"Operation":`, `,"Resource":`, `,"Data":`, `,"EventData":`, `,"Result":`,
		`,"Cwd":`, `,"TTY":`, `,"ExecEvent":`, `,"NodeID":`, `,"ProcessHash":`, `,"ParentHash":`,
		`,"ResourceHash":`, `,"HashAlgo":`, `,"UserName":`,
	}
	messageKeys = [...]string{
		`,"Timestamp":`, `,"UpdatedTime":`, `,"ClusterName":`, `,"HostName":`, `,"HostIP":`, `,"Type":`,
		`,"Level":`, `,"Message":`,
	}
	podownerKeys  = [...]string{`,"Ref":`, `,"Name":`, `,"Namespace":`}
	execEventKeys = [...]string{`,"ExecID":`, `,"ExecutableName":`}
)

// AppendAlert appends the encoding of a to dst.
func (x Escaping) AppendAlert(dst []byte, a *feeder.Alert) []byte {
	e := x.open(dst, alertKeys[:], a == nil)
	if !e.null {
		e.alert(a)
	}
	return e.close()
}

// AppendLog appends the encoding of l to dst.
func (x Escaping) AppendLog(dst []byte, l *feeder.Log) []byte {
	e := x.open(dst, logKeys[:], l == nil)
	if !e.null {
		e.log(l)
	}
	return e.close()
}

// AppendMessage appends the encoding of m to dst.
func (x Escaping) AppendMessage(dst []byte, m *feeder.Message) []byte {
	e := x.open(dst, messageKeys[:], m == nil)
	if !e.null {
		e.i64(m.Timestamp)
		e.strs(m.UpdatedTime, m.ClusterName, m.HostName, m.HostIP, m.Type, m.Level, m.Message)
	}
	return e.close()
}

func (e *enc) alert(a *feeder.Alert) {
	e.workload(a.Timestamp, a.UpdatedTime, a.ClusterName, a.HostName, a.NamespaceName, a.Owner)
	e.strs(a.PodName, a.Labels, a.ContainerID, a.ContainerName, a.ContainerImage)
	e.i32s(a.HostPPID, a.HostPID, a.PPID, a.PID, a.UID)
	e.strs(a.ParentProcessName, a.ProcessName, a.PolicyName, a.Severity, a.Tags)
	e.list(a.ATags)
	e.strs(a.Message, a.Type, a.Source, a.Operation, a.Resource, a.Data)
	e.dict(a.EventData)
	e.strs(a.Enforcer, a.Action, a.Result, a.Cwd, a.TTY)
	e.i32s(a.MaxAlertsPerSec, a.DroppingAlertsInterval)
	e.execEvent(a.ExecEvent)
	e.strs(a.KubeArmorVersion, a.NodeID, a.ProcessHash, a.ParentHash, a.ResourceHash, a.HashAlgo, a.UserName)
}

func (e *enc) log(l *feeder.Log) {
	e.workload(l.Timestamp, l.UpdatedTime, l.ClusterName, l.HostName, l.NamespaceName, l.Owner)
	e.strs(l.PodName, l.Labels, l.ContainerID, l.ContainerName, l.ContainerImage, l.ParentProcessName, l.ProcessName)
	e.i32s(l.HostPPID, l.HostPID, l.PPID, l.PID, l.UID)
	e.strs(l.Type, l.Source, l.Operation, l.Resource, l.Data)
	e.dict(l.EventData)
	e.strs(l.Result, l.Cwd, l.TTY)
	e.execEvent(l.ExecEvent)
	e.strs(l.NodeID, l.ProcessHash, l.ParentHash, l.ResourceHash, l.HashAlgo, l.UserName)
}

// workload writes the fields that open both an Alert and a Log.
func (e *enc) workload(ts int64, updated, cluster, host, namespace string, owner *feeder.Podowner) {
	e.i64(ts)
	e.strs(updated, cluster, host, namespace)
	e.owner(owner)
}

// enc writes one JSON object. Every field is written as `,"Name":value`;
// close turns the first comma into the opening brace (or writes {} when
// every field was left out).
type enc struct {
	dst []byte
	// keys names the object's fields; next indexes the next one (an index,
	// not a re-slice: a pointer write per field costs a GC write barrier).
	keys  []string
	next  int
	start int // offset in dst of the object
	html  bool
	null  bool // the record is nil: close writes null

	outerKeys             []string // the enclosing object's, inside a nested one
	outerNext, outerStart int
}

// open begins an object with the given field names, or a null.
func (x Escaping) open(dst []byte, keys []string, null bool) enc {
	return enc{dst: dst, keys: keys, start: len(dst), html: x == EscapeHTML, null: null}
}

func (e *enc) close() []byte {
	if e.null {
		return append(e.dst, "null"...)
	}
	if e.next != len(e.keys) {
		panic("jsonline: encoder skipped field " + e.keys[e.next])
	}
	if len(e.dst) == e.start {
		return append(e.dst, '{', '}')
	}
	e.dst[e.start] = '{'
	return append(e.dst, '}')
}

// key returns the next field's name, and writes it when present.
func (e *enc) key(present bool) {
	k := e.keys[e.next]
	e.next++
	if present {
		e.dst = append(e.dst, k...)
	}
}

func (e *enc) strs(vs ...string) {
	for _, v := range vs {
		e.key(v != "")
		if v != "" {
			e.dst = appendString(e.dst, v, e.html)
		}
	}
}

func (e *enc) i32s(vs ...int32) {
	for _, v := range vs {
		e.i64(int64(v))
	}
}

func (e *enc) i64(v int64) {
	e.key(v != 0)
	if v != 0 {
		e.dst = strconv.AppendInt(e.dst, v, 10)
	}
}

func (e *enc) list(vs []string) {
	e.key(len(vs) != 0)
	if len(vs) == 0 {
		return
	}
	for i, v := range vs {
		if i == 0 {
			e.dst = append(e.dst, '[')
		} else {
			e.dst = append(e.dst, ',')
		}
		e.dst = appendString(e.dst, v, e.html)
	}
	e.dst = append(e.dst, ']')
}

// sortBuf is how many map entries are sorted without allocating.
const sortBuf = 32

type entry struct{ k, v string }

func (e *enc) dict(m map[string]string) {
	e.key(len(m) != 0)
	if len(m) == 0 {
		return
	}
	var buf [sortBuf]entry
	es := buf[:0]
	for k, v := range m {
		es = append(es, entry{k, v})
	}
	sortEntries(es)
	for i := range es {
		if i == 0 {
			e.dst = append(e.dst, '{')
		} else {
			e.dst = append(e.dst, ',')
		}
		e.dst = appendString(e.dst, es[i].k, e.html)
		e.dst = append(e.dst, ':')
		e.dst = appendString(e.dst, es[i].v, e.html)
	}
	e.dst = append(e.dst, '}')
}

// sortEntries sorts by key as encoding/json sorts map keys (byte-wise).
func sortEntries(es []entry) {
	if len(es) > sortBuf {
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		return
	}
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].k < es[j-1].k; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// nest begins the next field as a nested object with the given field
// names, and reports whether it is present; unnest ends it. Objects nest
// one level deep.
func (e *enc) nest(present bool, keys []string) bool {
	e.key(present)
	if present {
		e.outerKeys, e.outerNext, e.outerStart = e.keys, e.next, e.start
		e.keys, e.next, e.start = keys, 0, len(e.dst)
	}
	return present
}

func (e *enc) unnest() {
	e.dst = e.close()
	e.keys, e.next, e.start = e.outerKeys, e.outerNext, e.outerStart
}

func (e *enc) owner(o *feeder.Podowner) {
	if e.nest(o != nil, podownerKeys[:]) {
		e.strs(o.Ref, o.Name, o.Namespace)
		e.unnest()
	}
}

func (e *enc) execEvent(x *feeder.ExecEvent) {
	if e.nest(x != nil, execEventKeys[:]) {
		e.strs(x.ExecID, x.ExecutableName)
		e.unnest()
	}
}
