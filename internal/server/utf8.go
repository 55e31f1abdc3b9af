package server

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// sendable returns m, or a copy with invalid UTF-8 replaced by U+FFFD when m
// has a string protobuf cannot encode (kernel-sourced file names are bytes).
// grpc-go ends a stream on the first record it cannot marshal, so one such
// record would otherwise cut off a subscriber. Records are shared between
// subscribers and must not be modified, hence the copy.
func sendable[T any](rec *T) *T {
	m, ok := any(rec).(proto.Message)
	if !ok || scrub(m.ProtoReflect(), false) {
		return rec
	}
	c := proto.Clone(m)
	scrub(c.ProtoReflect(), true)
	return any(c).(*T)
}

// scrub reports whether every string in m is valid UTF-8; with fix, it
// also repairs the invalid ones (and then reports false).
func scrub(m protoreflect.Message, fix bool) bool {
	valid := true
	bad := func(s string) bool { return !utf8.ValidString(s) }
	clean := func(s string) protoreflect.Value { return protoreflect.ValueOfString(strings.ToValidUTF8(s, "\uFFFD")) }
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			mv := v.Map()
			var fixes []func()
			mv.Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				key, val := k.Interface(), e
				badKey := fd.MapKey().Kind() == protoreflect.StringKind && bad(k.String())
				badVal := fd.MapValue().Kind() == protoreflect.StringKind && bad(e.String())
				if badKey || badVal {
					valid = false
					if badKey {
						key = strings.ToValidUTF8(k.String(), "\uFFFD")
					}
					if badVal {
						val = clean(e.String())
					}
					fixes = append(fixes, func() { mv.Clear(k); mv.Set(protoreflect.ValueOf(key).MapKey(), val) })
				}
				return true
			})
			if fix {
				for _, f := range fixes {
					f()
				}
			}
		case fd.IsList() && fd.Kind() == protoreflect.StringKind:
			l := v.List()
			for i := range l.Len() {
				if s := l.Get(i).String(); bad(s) {
					valid = false
					if fix {
						l.Set(i, clean(s))
					}
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			if bad(v.String()) {
				valid = false
				if fix {
					m.Set(fd, clean(v.String()))
				}
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsList():
			valid = scrub(v.Message(), fix) && valid
		}
		return valid || fix
	})
	return valid
}
