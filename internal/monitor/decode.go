package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Record layout: struct event_header (bpf/monitor.c) followed by its
// string sections. The offsets are checked against the bpf2go type in
// decode_test.go.
const (
	offTS       = 0
	offCgroup   = 8
	offRet      = 16
	offArgs     = 24
	offType     = 72
	offFlags    = 76
	offNr       = 80
	offHostPID  = 84
	offHostTID  = 88
	offHostPPID = 92
	offPID      = 96
	offPPID     = 100
	offUID      = 104
	offGID      = 108
	offPidNS    = 112
	offMntNS    = 116
	offComm     = 120
	offStrLen   = 136
	headerSize  = 144
	numSections = 4
)

// ErrMalformed is returned (wrapped) for a record that cannot be decoded.
var ErrMalformed = errors.New("malformed record")

// Decode decodes one raw ring-buffer record into ev, reusing ev's buffers.
// It does not allocate once ev's buffers have grown, and never panics on
// garbage input. Enrichment fields (Process, Parent, Ancestry) and Time are
// reset; the Monitor fills them afterwards.
func Decode(raw []byte, ev *Event) error {
	if len(raw) < headerSize {
		return fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(raw), headerSize)
	}
	le := binary.LittleEndian
	pathBuf, cwdBuf := ev.pathBuf[:0], ev.cwdBuf[:0]
	*ev = Event{pathBuf: pathBuf, cwdBuf: cwdBuf}
	ev.BootNS = le.Uint64(raw[offTS:])
	ev.CgroupID = le.Uint64(raw[offCgroup:])
	ev.Ret = int64(le.Uint64(raw[offRet:]))
	for i := range ev.Args {
		ev.Args[i] = le.Uint64(raw[offArgs+8*i:])
	}
	kind := le.Uint32(raw[offType:])
	if kind < uint32(KindExec) || kind > uint32(KindCapability) {
		return fmt.Errorf("%w: unknown event type %d", ErrMalformed, kind)
	}
	ev.Kind = Kind(kind)
	ev.Flags = le.Uint32(raw[offFlags:])
	nr := le.Uint32(raw[offNr:])
	ev.HostPID = le.Uint32(raw[offHostPID:])
	ev.HostTID = le.Uint32(raw[offHostTID:])
	ev.HostPPID = le.Uint32(raw[offHostPPID:])
	ev.PID = le.Uint32(raw[offPID:])
	ev.PPID = le.Uint32(raw[offPPID:])
	ev.UID = le.Uint32(raw[offUID:])
	ev.GID = le.Uint32(raw[offGID:])
	ev.PidNS = le.Uint32(raw[offPidNS:])
	ev.MntNS = le.Uint32(raw[offMntNS:])
	ev.Comm = cstring(raw[offComm : offComm+16])

	var sec [numSections][]byte
	off := headerSize
	for i := range sec {
		n := int(le.Uint16(raw[offStrLen+2*i:]))
		if n > len(raw)-off {
			return fmt.Errorf("%w: section %d of %d bytes overruns the %d-byte record", ErrMalformed, i, n, len(raw))
		}
		sec[i] = raw[off : off+n]
		off += n
	}

	switch ev.Kind {
	case KindExec:
		ev.Interpreter = ev.joinPath(sec[0])
		ev.Cwd = ev.joinCwd(sec[2])
		ev.Argv = sec[1]
		ev.TTY = cstring(raw[offArgs+8 : offArgs+24])
		ev.Args[1], ev.Args[2] = 0, 0
		ev.Path = ev.Interpreter
		if ev.Flags&FlagScript != 0 && len(sec[3]) > 0 {
			ev.Path = ev.absolute(cstring(sec[3]))
		} else {
			ev.Interpreter = nil
		}
	case KindSyscall:
		ev.Syscall = nr
		ev.Path = cstring(sec[0])
		ev.Path2 = cstring(sec[1])
		if len(sec[2]) > 0 {
			ev.Cwd = ev.joinCwd(sec[2])
		}
		if nr == sysMount {
			ev.Fstype = cstring(sec[3])
		} else {
			ev.Sockaddr = sec[3]
		}
	case KindCapability:
		ev.Capability = int32(nr)
	}
	return nil
}

// cstring returns b up to its first NUL.
func cstring(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// reverseComponents appends "/c_n/.../c_1" for leaf-first components
// "c_1\0c_2\0...c_n\0" to dst; no components give "/".
func reverseComponents(dst, comps []byte) []byte {
	end := len(comps)
	for end > 0 && comps[end-1] == 0 {
		end--
	}
	if end == 0 {
		return append(dst, '/')
	}
	for end > 0 {
		start := end
		for start > 0 && comps[start-1] != 0 {
			start--
		}
		dst = append(dst, '/')
		dst = append(dst, comps[start:end]...)
		end = start - 1
		for end > 0 && comps[end-1] == 0 {
			end--
		}
	}
	return dst
}

func (ev *Event) joinPath(comps []byte) []byte {
	start := len(ev.pathBuf)
	ev.pathBuf = reverseComponents(ev.pathBuf, comps)
	return ev.pathBuf[start:len(ev.pathBuf):len(ev.pathBuf)]
}

func (ev *Event) joinCwd(comps []byte) []byte {
	ev.cwdBuf = reverseComponents(ev.cwdBuf[:0], comps)
	return ev.cwdBuf
}

// absolute resolves p against ev.Cwd, appending to ev.pathBuf. It does not
// clean "." and ".." elements.
func (ev *Event) absolute(p []byte) []byte {
	if len(p) > 0 && p[0] == '/' || len(ev.Cwd) == 0 {
		return p
	}
	for len(p) >= 2 && p[0] == '.' && p[1] == '/' {
		p = p[2:]
	}
	start := len(ev.pathBuf)
	ev.pathBuf = append(ev.pathBuf, ev.Cwd...)
	if ev.Cwd[len(ev.Cwd)-1] != '/' {
		ev.pathBuf = append(ev.pathBuf, '/')
	}
	ev.pathBuf = append(ev.pathBuf, p...)
	return ev.pathBuf[start:len(ev.pathBuf):len(ev.pathBuf)]
}

// ResolvedPath returns a syscall event's first path made absolute against
// the working directory when it is relative to it (AT_FDCWD or a
// non-*at syscall); otherwise the path as given. It allocates.
func (ev *Event) ResolvedPath() string {
	dir, p := ev.resolvedParts()
	if len(dir) == 0 {
		return string(p)
	}
	var b strings.Builder
	b.Grow(len(dir) + 1 + len(p))
	b.Write(dir)
	if dir[len(dir)-1] != '/' {
		b.WriteByte('/')
	}
	b.Write(p)
	return b.String()
}

// appendResolvedPath appends ResolvedPath() to dst.
func (ev *Event) appendResolvedPath(dst []byte) []byte {
	dir, p := ev.resolvedParts()
	if len(dir) > 0 {
		dst = append(dst, dir...)
		if dir[len(dir)-1] != '/' {
			dst = append(dst, '/')
		}
	}
	return append(dst, p...)
}

// resolvedParts splits ResolvedPath into the directory it is relative to
// (empty when the path is used as given) and the path, less leading "./"
// when it is joined.
func (ev *Event) resolvedParts() (dir, p []byte) {
	p = ev.Path
	if len(p) == 0 || p[0] == '/' || len(ev.Cwd) == 0 {
		return nil, p
	}
	if s := syscallInfo(ev.Syscall); s != nil && s.dirfd >= 0 && int32(ev.Args[s.dirfd]) != atFDCWD {
		return nil, p
	}
	for len(p) >= 2 && p[0] == '.' && p[1] == '/' {
		p = p[2:]
	}
	return ev.Cwd, p
}
