package pathglob

import (
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Glob is a compiled pattern. It is immutable and safe for concurrent use.
type Glob struct {
	pattern string
	// prefix is the literal text every match starts with; when literal is
	// set it is the whole pattern and the NFA is empty.
	prefix  string
	literal bool

	states   []state  // NFA states that consume a rune, plus one match state
	closures []uint64 // words bitsets per state: closure of its successor
	start    []uint64 // closure of the entry point
	words    int      // bitset length in uint64 words
	accept   int      // index of the match state
}

// predKind says which runes a state consumes.
type predKind uint8

const (
	predRune     predKind = iota // exactly r
	predNotSlash                 // any rune but '/'
	predAnyRune                  // any rune
	predClass                    // cls.contains
	predNone                     // nothing: the match state
)

type state struct {
	kind predKind
	r    rune
	cls  *Class
}

func (s *state) accepts(r rune) bool {
	switch s.kind {
	case predRune:
		return r == s.r
	case predNotSlash:
		return r != '/'
	case predAnyRune:
		return true
	case predClass:
		return s.cls.Contains(r)
	}
	return false
}

// Compile parses pattern and compiles it for matching.
func Compile(pattern string) (*Glob, error) {
	seq, err := Parse(pattern)
	if err != nil {
		return nil, err
	}
	g := &Glob{pattern: pattern}
	n := literalPrefixLen(seq)
	var prefix strings.Builder
	for _, nd := range seq[:n] {
		prefix.WriteRune(nd.Rune)
	}
	g.prefix = prefix.String()
	if n == len(seq) {
		g.literal = true
		return g, nil
	}
	newBuilder().build(g, seq[n:])
	return g, nil
}

// MustCompile is like Compile but panics on a malformed pattern. It is meant
// for patterns known at build time.
func MustCompile(pattern string) *Glob {
	g, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return g
}

// Match reports whether path matches pattern. It compiles the pattern on
// every call; compile once with Compile to match many paths. A malformed
// pattern matches nothing.
func Match(pattern, path string) bool {
	g, err := Compile(pattern)
	return err == nil && g.Match(path)
}

// literalPrefixLen counts the leading literal nodes of seq. U+FFFD ends the
// prefix because, in a path, it also stands for an invalid byte that a byte
// comparison would not match.
func literalPrefixLen(seq []Node) int {
	for i, nd := range seq {
		if nd.Kind != KindLiteral || nd.Rune == utf8.RuneError {
			return i
		}
	}
	return len(seq)
}

// String returns the source pattern.
func (g *Glob) String() string { return g.pattern }

// Literal returns the pattern's only match and true when it contains no
// metacharacters (after unescaping).
func (g *Glob) Literal() (string, bool) { return g.prefix, g.literal }

// Prefix returns the literal text that every matching path starts with,
// useful for indexing many globs.
func (g *Glob) Prefix() string { return g.prefix }

// stackWords is the largest NFA (in 64-state words) matched without
// allocating.
const stackWords = 4

// Match reports whether path matches the whole pattern.
func (g *Glob) Match(path string) bool {
	if g.literal {
		return path == g.prefix
	}
	rest, ok := strings.CutPrefix(path, g.prefix)
	switch {
	case !ok:
		return false
	case g.words == 1:
		return g.matchWord(rest)
	default:
		return g.matchWords(rest)
	}
}

// decodeRune returns the rune at s[i] and its width, quickly for ASCII.
func decodeRune(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// matchWord runs an NFA of at most 64 states, held in one register.
func (g *Glob) matchWord(s string) bool {
	cur := g.start[0]
	for i := 0; i < len(s); {
		r, size := decodeRune(s, i)
		i += size
		var next uint64
		for word := cur; word != 0; word &= word - 1 {
			if st := bits.TrailingZeros64(word); g.states[st].accepts(r) {
				next |= g.closures[st]
			}
		}
		if next == 0 {
			return false
		}
		cur = next
	}
	return cur&(1<<g.accept) != 0
}

// matchWords runs a larger NFA; up to stackWords words it does not allocate.
func (g *Glob) matchWords(s string) bool {
	var bufCur, bufNext [stackWords]uint64
	cur, next := bufCur[:], bufNext[:]
	if g.words > stackWords {
		cur, next = make([]uint64, g.words), make([]uint64, g.words)
	}
	cur, next = cur[:g.words], next[:g.words]
	copy(cur, g.start)

	for i := 0; i < len(s); {
		r, size := decodeRune(s, i)
		i += size
		clear(next)
		alive := false
		for w, word := range cur {
			for ; word != 0; word &= word - 1 {
				st := w*64 + bits.TrailingZeros64(word)
				if !g.states[st].accepts(r) {
					continue
				}
				for k, succ := range g.closures[st*g.words : (st+1)*g.words] {
					next[k] |= succ
				}
				alive = true
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur[g.accept/64]&(1<<(g.accept%64)) != 0
}
