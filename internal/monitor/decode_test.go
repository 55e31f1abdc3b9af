package monitor

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// The decoder's offsets must match the C struct (via its bpf2go type).
func TestHeaderLayoutMatchesBPF(t *testing.T) {
	var h monitorEventHeader
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"ts", unsafe.Offsetof(h.Ts), offTS},
		{"cgroup_id", unsafe.Offsetof(h.CgroupId), offCgroup},
		{"retval", unsafe.Offsetof(h.Retval), offRet},
		{"args", unsafe.Offsetof(h.Args), offArgs},
		{"type", unsafe.Offsetof(h.Type), offType},
		{"flags", unsafe.Offsetof(h.Flags), offFlags},
		{"nr", unsafe.Offsetof(h.Nr), offNr},
		{"host_pid", unsafe.Offsetof(h.HostPid), offHostPID},
		{"host_tid", unsafe.Offsetof(h.HostTid), offHostTID},
		{"host_ppid", unsafe.Offsetof(h.HostPpid), offHostPPID},
		{"pid", unsafe.Offsetof(h.Pid), offPID},
		{"ppid", unsafe.Offsetof(h.Ppid), offPPID},
		{"uid", unsafe.Offsetof(h.Uid), offUID},
		{"gid", unsafe.Offsetof(h.Gid), offGID},
		{"pid_ns", unsafe.Offsetof(h.PidNs), offPidNS},
		{"mnt_ns", unsafe.Offsetof(h.MntNs), offMntNS},
		{"comm", unsafe.Offsetof(h.Comm), offComm},
		{"str_len", unsafe.Offsetof(h.StrLen), offStrLen},
		{"size", unsafe.Sizeof(h), headerSize},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, decoder uses %d", c.name, c.got, c.want)
		}
	}
}

// record builds a raw record.
func record(kind Kind, flags, nr uint32, ret int64, args [6]uint64, sections ...string) []byte {
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	le.PutUint64(b[offTS:], 1000)
	le.PutUint64(b[offCgroup:], 42)
	le.PutUint64(b[offRet:], uint64(ret))
	for i, a := range args {
		le.PutUint64(b[offArgs+8*i:], a)
	}
	le.PutUint32(b[offType:], uint32(kind))
	le.PutUint32(b[offFlags:], flags)
	le.PutUint32(b[offNr:], nr)
	le.PutUint32(b[offHostPID:], 100)
	le.PutUint32(b[offHostPPID:], 99)
	copy(b[offComm:], "probe")
	for i, s := range sections {
		le.PutUint16(b[offStrLen+2*i:], uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestDecode(t *testing.T) {
	t.Run("exec reverses path components and reads argv, cwd and tty", func(t *testing.T) {
		var args [6]uint64
		copy((*[16]byte)(unsafe.Pointer(&args[1]))[:], "pts3")
		raw := record(KindExec, FlagHost, 0, 0, args, "probe\x00bin\x00tmp\x00", "probe\x00a b\x00c\x00", "work\x00", "")
		var ev Event
		if err := Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Path) != "/tmp/bin/probe" || string(ev.Cwd) != "/work" || string(ev.TTY) != "pts3" ||
			strings.Join(ev.ArgList(), "|") != "probe|a b|c" || string(ev.Comm) != "probe" || !ev.Host() || ev.CgroupID != 42 {
			t.Errorf("%+v", ev)
		}
	})
	t.Run("script exec names the script, resolved against cwd", func(t *testing.T) {
		raw := record(KindExec, FlagScript, 0, 0, [6]uint64{}, "dash\x00bin\x00usr\x00", "sh\x00", "d\x00", "./run.sh\x00")
		var ev Event
		if err := Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Path) != "/d/run.sh" || string(ev.Interpreter) != "/usr/bin/dash" {
			t.Errorf("path %q interpreter %q", ev.Path, ev.Interpreter)
		}
	})
	t.Run("syscall keeps its path, second path and sockaddr", func(t *testing.T) {
		raw := record(KindSyscall, 0, sysRenameat2, -13, [6]uint64{^uint64(99)}, "old\x00", "new\x00", "c\x00", "")
		var ev Event
		if err := Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if string(ev.Path) != "old" || string(ev.Path2) != "new" || string(ev.Cwd) != "/c" || ev.ResolvedPath() != "/c/old" {
			t.Errorf("%q %q %q %q", ev.Path, ev.Path2, ev.Cwd, ev.ResolvedPath())
		}
		if l := ToLog(&ev); l.Result != "Permission denied" || l.Data != "syscall=SYS_RENAMEAT2 fd=-100 newfd=0 newpath=new" {
			t.Errorf("%+v", l)
		}
	})
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"short header", make([]byte, headerSize-1)},
		{"unknown type", record(9, 0, 0, 0, [6]uint64{})},
		{"section overrun", record(KindSyscall, 0, 2, 0, [6]uint64{}, "abc")[:headerSize+2]},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			var ev Event
			if err := Decode(tc.raw, &ev); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestDecodeDoesNotAllocate(t *testing.T) {
	raw := record(KindExec, 0, 0, 0, [6]uint64{}, "probe\x00bin\x00tmp\x00", "probe\x00", "work\x00", "")
	var ev Event
	Decode(raw, &ev)
	if n := testing.AllocsPerRun(100, func() { Decode(raw, &ev) }); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(KindExec, FlagScript, 0, 0, [6]uint64{}, "a\x00b\x00", "x\x00y", "\x00\x00", "../s"))
	f.Add(record(KindSyscall, 0, sysConnect, -111, [6]uint64{3}, "", "", "", "\x02\x00\x00\x50\x7f\x00\x00\x01"))
	f.Add(record(KindSyscall, 0, sysConnect, 0, [6]uint64{3}, "", "", "", "\x0a\x00\x00\x50"))
	f.Add(record(KindSyscall, 0, sysMount, 0, [6]uint64{}, "src", "dst", "", "ext4"))
	f.Add(record(KindCapability, 0, 99, -1, [6]uint64{}))
	f.Add(record(KindSyscall, 0, sysOpenat, 3, [6]uint64{^uint64(99), 0, 0x80241}, "rel", "", "d\x00", ""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev Event
		if Decode(raw, &ev) != nil {
			return
		}
		tree := NewTree(TreeOptions{MaxProcesses: 4})
		tree.Apply(&ev)
		tree.Enrich(&ev)
		ToLog(&ev)
		EngineOperation(&ev)
	})
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{OpenFlags(0), "O_RDONLY"},
		{OpenFlags(0x80000), "O_RDONLY|O_CLOEXEC"},
		{OpenFlags(0x241), "O_WRONLY|O_CREAT|O_TRUNC"},
		{OpenFlags(0x101002), "O_RDWR|O_SYNC"},
		{ResultText(0), "Passed"},
		{ResultText(-1), "Operation not permitted"},
		{ResultText(-13), "Permission denied"},
		{ResultText(-111), "Connection refused"},
		{ResultText(-9999), "Unknown (-9999)"},
		{CapabilityName(13), "CAP_NET_RAW"},
		{formatSockaddr([]byte("\x0a\x00\x01\xbb\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01")), "sa_family=AF_INET6 sin6_port=443 sin6_addr=::1"},
		{formatSockaddr([]byte("\x01\x00/run/x.sock\x00")), "sa_family=AF_UNIX sun_path=/run/x.sock"},
		{ttyName(136<<8 | 2), "pts2"},
		{ParseVisibility("process, network").String(), "process,network"},
		{ParseVisibility("none").String(), "none"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// ToLog's hand-written timestamp matches the layout it replaces.
func TestAppendTimestamp(t *testing.T) {
	for _, ns := range []int64{0, 1, 999, 1_000_999, 1_764_140_000_123_456_789, -1, -86_400_000_000_001, 253_402_300_799_999_999_999 / 1000} {
		for _, at := range []time.Time{time.Unix(0, ns), time.Unix(0, ns).In(time.FixedZone("x", 5*3600+1800)), time.Unix(ns, 0)} {
			want := at.UTC().Format("2006-01-02T15:04:05.000000Z")
			if got := string(appendTimestamp(nil, at)); got != want {
				t.Errorf("%v: got %q, want %q", at, got, want)
			}
		}
	}
}

// ToLog builds the exec Resource from Argv as ArgList splits it.
func TestAppendArgs(t *testing.T) {
	for _, argv := range []string{"", "\x00", "a", "a\x00", "a\x00b\x00", "a\x00\x00b\x00\x00", "\x00x", strings.Repeat("z\x00", 30)} {
		args := (&Event{Argv: []byte(argv)}).ArgList()
		want := ""
		if len(args) > 1 {
			want = " " + strings.Join(args[1:], " ")
		}
		if got := string(appendArgs(nil, []byte(argv))); got != want {
			t.Errorf("%q: got %q, want %q", argv, got, want)
		}
	}
}

// ToLog allocates the Log (with its ExecEvent), one string for everything
// it formats, and EventData: nothing per field.
func TestToLogAllocations(t *testing.T) {
	tr := NewTree(TreeOptions{})
	tr.Apply(execEv(100, 1, "/usr/bin/cat", "/etc/hostname"))
	var ev Event
	raw := record(KindSyscall, FlagHost, sysOpenat, 3, [6]uint64{^uint64(99), 0, 0x80000}, "rel/f\x00", "", "d\x00", "")
	if err := Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	tr.Apply(&ev)
	tr.Enrich(&ev)
	l := ToLog(&ev)
	if l.Resource != "/d/rel/f" || l.Source != "/usr/bin/cat /etc/hostname" || l.Cwd != "/src/" || l.Data != "syscall=SYS_OPENAT fd=-100 flags=O_RDONLY|O_CLOEXEC" {
		t.Fatalf("log: %+v", l)
	}
	if n := testing.AllocsPerRun(100, func() { ToLog(&ev) }); n > 5 {
		t.Errorf("%v allocations per ToLog", n)
	}
}
