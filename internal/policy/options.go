package policy

import (
	"io"
	"os"
)

// DefaultMaxFileSize is the input size limit used when Options.MaxFileSize
// is zero.
const DefaultMaxFileSize = 4 << 20

// Options configure loading. The zero value is strict loading with the
// default size limit and no file-system lint.
type Options struct {
	// Lenient accepts what a Kubernetes API server would accept: duplicate
	// mapping keys (the last value wins) and unknown fields (pruned) become
	// warnings, and so do the semantic checks the CRD schemas cannot
	// express. CRD schema violations stay errors.
	Lenient bool
	// Root, when set, is the file-system root under which the lint resolves
	// rule targets to report symlinks (e.g. "/" or a container rootfs).
	Root string
	// MaxFileSize limits each input; zero means DefaultMaxFileSize.
	MaxFileSize int64
	// Stdin is read for the path "-"; nil means os.Stdin.
	Stdin io.Reader
}

func (o Options) stdin() io.Reader {
	if o.Stdin != nil {
		return o.Stdin
	}
	return os.Stdin
}

func (o Options) maxFileSize() int64 {
	if o.MaxFileSize > 0 {
		return o.MaxFileSize
	}
	return DefaultMaxFileSize
}

// semantic is the severity of a check the CRD schema does not enforce.
func (o Options) semantic() Severity {
	if o.Lenient {
		return SeverityWarning
	}
	return SeverityError
}
