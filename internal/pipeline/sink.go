package pipeline

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bulwark-security/bulwark/internal/jsonline"
)

// File modes of a created log file and its directories.
const (
	logFileMode = 0o640
	logDirMode  = 0o750
)

// sinkErrorLogEvery is how many failed writes pass between error logs.
const sinkErrorLogEvery = 1000

// sink writes alerts and logs as JSON lines from its own goroutine.
type sink struct {
	p      *Pipeline
	path   string // LogPathStdout or a file path
	queue  chan Event
	reopen chan struct{}

	file    *os.File // nil for stdout
	out     io.Writer
	w       *bufio.Writer
	scratch []byte           // a record's line when w has too little room left
	pending [numKinds]uint64 // records in w not yet flushed, by kind
	errs    uint64
}

func newSink(path string, size int, p *Pipeline) *sink {
	return &sink{p: p, path: path, queue: make(chan Event, size), reopen: make(chan struct{}, 1)}
}

func (s *sink) open() error {
	if s.path == LogPathStdout {
		s.setOutput(os.Stdout, nil)
		return nil
	}
	f, err := openLogFile(s.path)
	if err != nil {
		return err
	}
	s.setOutput(f, f)
	return nil
}

func openLogFile(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), logDirMode); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return f, nil
}

func (s *sink) setOutput(out io.Writer, f *os.File) {
	s.out, s.file = out, f
	if s.w == nil {
		s.w = bufio.NewWriterSize(out, 64<<10)
	} else {
		s.w.Reset(out)
	}
}

// enqueue hands ev to the sink without blocking.
func (s *sink) enqueue(ev Event, k Kind) {
	select {
	case s.queue <- ev:
	default:
		s.p.drop(k, DropSinkFull, 1)
	}
}

func (s *sink) requestReopen() {
	select {
	case s.reopen <- struct{}{}:
	default: // one is already pending
	}
}

// run writes until the queue is closed, then flushes and closes the file.
func (s *sink) run() {
	defer s.closeFile()
	for {
		select {
		case ev, ok := <-s.queue:
			if !ok {
				s.flush()
				return
			}
			s.write(ev)
			if len(s.queue) == 0 {
				s.flush()
			}
		case <-s.reopen:
			s.flush()
			s.reopenFile()
		}
	}
}

// lineEncoding writes records as a json.Encoder with SetEscapeHTML(false)
// does: <, > and & stay as they are.
const lineEncoding = jsonline.NoEscapeHTML

// lineRoom is the free space in the writer's buffer above which a record
// is encoded in place; below it, into the sink's scratch buffer (so that
// neither grows a fresh slice).
const lineRoom = 8 << 10

func (s *sink) write(ev Event) {
	inPlace := s.w.Available() >= lineRoom
	line := s.scratch[:0]
	if inPlace {
		line = s.w.AvailableBuffer()
	}
	k := ev.Kind()
	switch k {
	case KindAlert:
		line = lineEncoding.AppendAlert(line, ev.Alert)
	case KindLog:
		line = lineEncoding.AppendLog(line, ev.Log)
	default:
		return
	}
	line = append(line, '\n')
	if !inPlace {
		s.scratch = line // keep a grown buffer for the next record
	}
	_, err := s.w.Write(line)
	if err != nil {
		s.pending[k]++
		s.failed(err)
		return
	}
	s.pending[k]++
}

func (s *sink) flush() {
	if s.w.Buffered() == 0 {
		return
	}
	if err := s.w.Flush(); err != nil {
		s.failed(err)
		return
	}
	s.pending = [numKinds]uint64{}
}

// failed counts the pending records as lost and clears the writer's sticky
// error.
func (s *sink) failed(err error) {
	var n uint64
	for k, c := range s.pending {
		s.p.drop(Kind(k), DropSinkError, c)
		n += c
	}
	s.pending = [numKinds]uint64{}
	s.w.Reset(s.out)
	prev := s.errs
	s.errs += n
	if prev == 0 || prev/sinkErrorLogEvery != s.errs/sinkErrorLogEvery {
		s.p.log.Error("log sink write failed", "path", s.path, "error", err, "lost", s.errs)
	}
}

func (s *sink) reopenFile() {
	if s.file == nil {
		return
	}
	f, err := openLogFile(s.path)
	if err != nil {
		s.p.log.Error("log sink reopen failed, keeping the old file", "path", s.path, "error", err)
		return
	}
	old := s.file
	s.setOutput(f, f)
	if err := old.Close(); err != nil {
		s.p.log.Warn("closing the old log file", "path", s.path, "error", err)
	}
	s.p.log.Info("log sink reopened", "path", s.path)
}

func (s *sink) closeFile() {
	if s.file == nil {
		return
	}
	if err := s.file.Close(); err != nil {
		s.p.log.Warn("closing the log file", "path", s.path, "error", err)
	}
}
