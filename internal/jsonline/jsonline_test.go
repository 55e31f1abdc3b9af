package jsonline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-security/bulwark/api/proto/feeder"
)

// marshalBoth returns encoding/json's two encodings of v: json.Marshal's
// and a json.Encoder's with SetEscapeHTML(false) (less its newline).
func marshalBoth(t testing.TB, v any) (html, noHTML []byte) {
	t.Helper()
	html, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return html, bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// appendAny encodes v, one of the three records, with x.
func appendAny(x Escaping, dst []byte, v any) []byte {
	switch v := v.(type) {
	case *feeder.Alert:
		return x.AppendAlert(dst, v)
	case *feeder.Log:
		return x.AppendLog(dst, v)
	case *feeder.Message:
		return x.AppendMessage(dst, v)
	}
	panic("unknown record type")
}

// checkSame fails unless both escapings of v match encoding/json's, also
// when appended after existing bytes.
func checkSame(t testing.TB, v any) {
	t.Helper()
	html, noHTML := marshalBoth(t, v)
	if got := appendAny(EscapeHTML, nil, v); !bytes.Equal(got, html) {
		t.Fatalf("EscapeHTML mismatch\n got %s\nwant %s", got, html)
	}
	if got := appendAny(NoEscapeHTML, nil, v); !bytes.Equal(got, noHTML) {
		t.Fatalf("NoEscapeHTML mismatch\n got %s\nwant %s", got, noHTML)
	}
	prefix := []byte("prefix\n")
	if got := appendAny(EscapeHTML, prefix, v); !bytes.Equal(got, append(prefix, html...)) {
		t.Fatalf("append after prefix: got %s", got)
	}
}

// records are the types the encoder writes, with their field name lists.
var records = []struct {
	typ  reflect.Type
	keys []string
}{
	{reflect.TypeFor[feeder.Alert](), alertKeys[:]},
	{reflect.TypeFor[feeder.Log](), logKeys[:]},
	{reflect.TypeFor[feeder.Message](), messageKeys[:]},
	{reflect.TypeFor[feeder.Podowner](), podownerKeys[:]},
	{reflect.TypeFor[feeder.ExecEvent](), execEventKeys[:]},
}

// TestFieldsKnown fails when a feeder struct gains, loses, renames or
// reorders a JSON field, or changes a field to a type the encoder does not
// write: regenerate nothing, update encode.go.
func TestFieldsKnown(t *testing.T) {
	supported := map[reflect.Type]bool{
		reflect.TypeFor[string](): true, reflect.TypeFor[int32](): true, reflect.TypeFor[int64](): true,
		reflect.TypeFor[[]string](): true, reflect.TypeFor[map[string]string](): true,
		reflect.TypeFor[*feeder.Podowner](): true, reflect.TypeFor[*feeder.ExecEvent](): true,
	}
	for _, r := range records {
		var names []string
		for f := range r.typ.Fields() {
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" || name == "-" || opts != "omitempty" {
				t.Errorf("%s.%s: json tag %q: the encoder expects name,omitempty", r.typ.Name(), f.Name, tag)
			}
			if !supported[f.Type] {
				t.Errorf("%s.%s: type %v not supported by the encoder", r.typ.Name(), f.Name, f.Type)
			}
			if _, ok := reflect.PointerTo(f.Type).MethodByName("MarshalJSON"); ok {
				t.Errorf("%s.%s: %v has MarshalJSON", r.typ.Name(), f.Name, f.Type)
			}
			names = append(names, name)
		}
		var known []string
		for _, k := range r.keys {
			known = append(known, strings.TrimSuffix(strings.TrimPrefix(k, `,"`), `":`))
		}
		if !reflect.DeepEqual(names, known) {
			t.Errorf("%s: struct fields %v\nencoder fields %v", r.typ.Name(), names, known)
		}
	}
}

// filler sets values from a byte stream: each field's presence, lengths
// and contents come from src, and an exhausted src yields zero values.
type filler struct {
	src     []byte
	strings []string // drawn from before bytes of src, when set
}

func (f *filler) byte() byte {
	if len(f.src) == 0 {
		return 0
	}
	b := f.src[0]
	f.src = f.src[1:]
	return b
}

func (f *filler) bytes(n int) []byte {
	n = min(n, len(f.src))
	b := f.src[:n]
	f.src = f.src[n:]
	return b
}

func (f *filler) string() string {
	c := f.byte()
	if c&3 == 0 {
		return ""
	}
	if len(f.strings) > 0 && c&4 != 0 {
		return f.strings[int(c>>3)%len(f.strings)]
	}
	return string(f.bytes(int(c >> 2)))
}

func (f *filler) int() int64 {
	var v int64
	for _, b := range f.bytes(int(f.byte() % 9)) {
		v = v<<8 | int64(b)
	}
	return v
}

// fill sets every exported field of the struct v points to.
func (f *filler) fill(v reflect.Value) {
	v = v.Elem()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		f.set(v.Field(i))
	}
}

func (f *filler) set(fv reflect.Value) {
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(f.string())
	case reflect.Int32, reflect.Int64:
		fv.SetInt(f.int())
	case reflect.Pointer:
		if f.byte()&1 == 1 {
			fv.Set(reflect.New(fv.Type().Elem()))
			f.fill(fv)
		}
	case reflect.Slice:
		switch c := f.byte(); c % 3 {
		case 1:
			fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
		case 2:
			n := int(c/3) % 6
			s := reflect.MakeSlice(fv.Type(), n, n)
			for i := range n {
				f.set(s.Index(i))
			}
			fv.Set(s)
		}
	case reflect.Map:
		switch c := f.byte(); c % 3 {
		case 1:
			fv.Set(reflect.MakeMap(fv.Type()))
		case 2:
			m := reflect.MakeMap(fv.Type())
			for range int(c/3) % 40 {
				m.SetMapIndex(reflect.ValueOf(f.string()), reflect.ValueOf(f.string()))
			}
			fv.Set(m)
		}
	default:
		panic("filler: unsupported kind " + fv.Kind().String())
	}
}

// full returns a *T whose every field, nested ones included, holds a
// distinct non-empty value.
func full[T any]() *T {
	n := 0
	var set func(v reflect.Value)
	fields := func(v reflect.Value) {
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				set(v.Field(i))
			}
		}
	}
	set = func(v reflect.Value) {
		n++
		switch v.Kind() {
		case reflect.String:
			v.SetString("s" + string(rune('A'+n%26)) + strings.Repeat("x", n))
		case reflect.Int32, reflect.Int64:
			v.SetInt(int64(-n * 1000003))
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
			fields(v.Elem())
		case reflect.Slice:
			v.Set(reflect.ValueOf([]string{"tag" + strings.Repeat("y", n), "<b>"}))
		case reflect.Map:
			v.Set(reflect.ValueOf(map[string]string{"z": "last", "a": "first", "M" + strings.Repeat("m", n): "mid", "é": "<&>"}))
		}
	}
	p := new(T)
	fields(reflect.ValueOf(p).Elem())
	return p
}

// TestFullyPopulated: every field of a record with all fields set appears,
// under its own name and with its own value.
func TestFullyPopulated(t *testing.T) {
	for _, v := range []any{full[feeder.Alert](), full[feeder.Log](), full[feeder.Message]()} {
		checkSame(t, v)
		got := appendAny(EscapeHTML, nil, v)
		var obj map[string]any
		if err := json.Unmarshal(got, &obj); err != nil {
			t.Fatal(err)
		}
		typ := reflect.TypeOf(v).Elem()
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if _, ok := obj[name]; !ok {
				t.Errorf("%s: field %s missing from %s", typ.Name(), name, got)
			}
		}
		for _, nested := range []string{"Owner", "ExecEvent"} {
			if o, ok := obj[nested]; ok && len(o.(map[string]any)) == 0 {
				t.Errorf("%s: nested %s is empty", typ.Name(), nested)
			}
		}
	}
}

// trickyStrings exercise every escaping rule of encoding/json.
var trickyStrings = []string{
	"", "plain", `quote " backslash \ slash /`, "<script>alert('x')&amp;</script>",
	"\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x20\x7f", "line\u2028sep\u2029para", "\u2027\u202a",
	"é ü 日本語 🙂", "\xff", "\xc3", "a\xc3(b", "\xed\xa0\x80surrogate", "\xf4\x90\x80\x80 too big",
	"\xe2\x80", "\xe2\x80\xa8", "trailing\xe2", "\uFFFD real replacement", "\xef\xbf\xbd",
	strings.Repeat("long/path/", 40), "ends with escape\n", "\"", "\\", "null", "{\"k\":1}",
}

func TestTrickyStrings(t *testing.T) {
	for _, s := range trickyStrings {
		a := &feeder.Alert{
			Source: s, Resource: s, ATags: []string{s, "x"},
			EventData: map[string]string{s: s, "k": s},
			Owner:     &feeder.Podowner{Name: s}, ExecEvent: &feeder.ExecEvent{ExecID: s},
		}
		checkSame(t, a)
		checkSame(t, &feeder.Log{Data: s, EventData: map[string]string{"syscall": s}})
		checkSame(t, &feeder.Message{Message: s})
	}
	// Every byte alone and inside text.
	for b := range 256 {
		s := string([]byte{byte(b)})
		checkSame(t, &feeder.Message{Message: s, Type: "a" + s + "b"})
	}
	// Every rune class boundary.
	for _, r := range []rune{0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, utf8.MaxRune} {
		checkSame(t, &feeder.Message{Message: "x" + string(r) + "y"})
	}
}

func TestShapes(t *testing.T) {
	for _, v := range []any{
		&feeder.Alert{}, &feeder.Log{}, &feeder.Message{},
		(*feeder.Alert)(nil), (*feeder.Log)(nil), (*feeder.Message)(nil),
		&feeder.Alert{Owner: &feeder.Podowner{}, ExecEvent: &feeder.ExecEvent{}},
		&feeder.Log{Owner: &feeder.Podowner{}, ExecEvent: &feeder.ExecEvent{}, EventData: map[string]string{}},
		&feeder.Alert{ATags: []string{}, EventData: map[string]string{}},
		&feeder.Alert{ATags: []string{""}, EventData: map[string]string{"": ""}},
		&feeder.Alert{Timestamp: -1, HostPID: -2147483648, UID: 2147483647, MaxAlertsPerSec: -7},
		&feeder.Log{Timestamp: -9223372036854775808}, &feeder.Message{Timestamp: 9223372036854775807},
		&feeder.Alert{UserName: "last only"}, &feeder.Log{UserName: "last only"},
		&feeder.Alert{Timestamp: 1}, &feeder.Alert{Owner: &feeder.Podowner{Namespace: "ns"}},
	} {
		checkSame(t, v)
	}
	// A map larger than the encoder's stack buffer.
	m := map[string]string{}
	for i := range 3 * sortBuf {
		m[strings.Repeat("k", i%7)+string(rune('a'+i%26))+string(rune('A'+i/26))] = "v"
	}
	checkSame(t, &feeder.Log{EventData: m})
}

func TestNoAllocs(t *testing.T) {
	a, l, m := benchAlert(), benchLog(), &feeder.Message{Timestamp: 1, Level: "INFO", Message: "started <ok>"}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendAlert(buf[:0], a)
		buf = AppendLog(buf[:0], l)
		buf = NoEscapeHTML.AppendMessage(buf[:0], m)
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// TestFiller checks the fuzz targets' builder reaches every shape.
func TestFiller(t *testing.T) {
	f := &filler{src: bytes.Repeat([]byte{0xff, 0x05, 0x02, 0x41}, 4000)}
	a := new(feeder.Alert)
	f.fill(reflect.ValueOf(a))
	if a.Owner == nil || a.ExecEvent == nil || a.Timestamp == 0 || a.UserName == "" {
		t.Fatalf("filler left fields empty: %+v", a)
	}
	checkSame(t, a)
}

func fuzzSeeds(f *testing.F) {
	f.Add([]byte{}, "", "")
	f.Add(bytes.Repeat([]byte{0xff, 0x05, 0x02, 0x41}, 100), "<a&b>", "\u2028")
	f.Add(bytes.Repeat([]byte{0x07, 0x80, 0xfe, 0x22, 0x5c, 0x00}, 80), "\xff\xfe", "é")
	f.Add(bytes.Repeat([]byte{0x2e, 0x01, 0x02, 0xe2, 0x80, 0xa8, 0x0c}, 60), "\xe2\x80\xa9", "\x1f")
	for _, s := range trickyStrings {
		f.Add(append([]byte{0xfd}, s...), s, "x")
	}
}

// fuzzRecord builds a T from the fuzz input (fields' presence, arbitrary
// byte strings, negative numbers, nil or empty slices and maps, nil or
// set nested pointers) and compares the encoder with encoding/json.
func fuzzRecord[T any](f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, s1, s2 string) {
		v := new(T)
		(&filler{src: data, strings: []string{s1, s2}}).fill(reflect.ValueOf(v))
		checkSame(t, v)
	})
}

func FuzzAlert(f *testing.F)   { fuzzRecord[feeder.Alert](f) }
func FuzzLog(f *testing.F)     { fuzzRecord[feeder.Log](f) }
func FuzzMessage(f *testing.F) { fuzzRecord[feeder.Message](f) }

// FuzzString compares string escaping alone, in both modes.
func FuzzString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		html, noHTML := marshalBoth(t, s)
		if got := appendString(nil, s, true); !bytes.Equal(got, html) {
			t.Fatalf("got %s want %s", got, html)
		}
		if got := appendString(nil, s, false); !bytes.Equal(got, noHTML) {
			t.Fatalf("no-HTML: got %s want %s", got, noHTML)
		}
	})
}
