package pathglob

import (
	"fmt"
	"unicode/utf8"
)

// SyntaxError reports a malformed pattern.
type SyntaxError struct {
	Pattern string
	Offset  int // byte offset of the problem in Pattern
	Msg     string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("pathglob: %s at offset %d in %q", e.Msg, e.Offset, e.Pattern)
}

// NodeKind is the kind of a pattern element.
type NodeKind uint8

// Pattern elements.
const (
	KindLiteral NodeKind = iota // one rune
	KindAny                     // ?: one rune but '/'
	KindClass                   // [...]
	KindStar                    // * or **
	KindAlt                     // {a,b}
)

// Node is one element of a parsed pattern. Parse exposes the tree so that
// other matchers (the BPF-LSM enforcer's byte automaton) compile the same
// syntax without parsing it again.
type Node struct {
	Kind  NodeKind
	Rune  rune   // KindLiteral
	Class *Class // KindClass
	// Deep is set for **; AfterSlash when the star directly follows a '/'
	// in the pattern text and must therefore match at least one non-'/'.
	Deep, AfterSlash bool
	Alts             [][]Node // KindAlt
}

// Class is a bracket expression: a set of inclusive rune ranges, never
// matching '/'.
type Class struct {
	Negated bool
	Ranges  []rune // pairs lo, hi
}

// Contains reports whether the class matches r.
func (c *Class) Contains(r rune) bool {
	if r == '/' {
		return false
	}
	in := false
	for i := 0; i < len(c.Ranges); i += 2 {
		if c.Ranges[i] <= r && r <= c.Ranges[i+1] {
			in = true
			break
		}
	}
	return in != c.Negated
}

type parser struct {
	src string
	pos int
}

// Parse parses pattern into its elements, or returns a *SyntaxError.
func Parse(pattern string) ([]Node, error) {
	p := &parser{src: pattern}
	if !utf8.ValidString(pattern) {
		for i, r := range pattern {
			if r == utf8.RuneError {
				return nil, p.errorAt(i, "invalid UTF-8")
			}
		}
	}
	return p.sequence(false)
}

func (p *parser) errorAt(offset int, msg string) *SyntaxError {
	return &SyntaxError{Pattern: p.src, Offset: offset, Msg: msg}
}

// sequence parses elements until the end of the pattern or, inside braces,
// until an unescaped ',' or '}' (which it leaves for the caller).
func (p *parser) sequence(inBraces bool) ([]Node, error) {
	var seq []Node
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; c {
		case '*':
			start := p.pos
			for p.pos < len(p.src) && p.src[p.pos] == '*' {
				p.pos++
			}
			seq = append(seq, Node{
				Kind:       KindStar,
				Deep:       p.pos-start > 1,
				AfterSlash: start > 0 && p.src[start-1] == '/',
			})
		case '?':
			p.pos++
			seq = append(seq, Node{Kind: KindAny})
		case '[':
			cls, err := p.class()
			if err != nil {
				return nil, err
			}
			seq = append(seq, Node{Kind: KindClass, Class: cls})
		case ']':
			return nil, p.errorAt(p.pos, "unmatched ']'")
		case '{':
			alts, err := p.alternation()
			if err != nil {
				return nil, err
			}
			seq = append(seq, Node{Kind: KindAlt, Alts: alts})
		case '}', ',':
			if inBraces {
				return seq, nil
			}
			if c == '}' {
				return nil, p.errorAt(p.pos, "unmatched '}'")
			}
			p.pos++
			seq = append(seq, Node{Kind: KindLiteral, Rune: ','})
		default:
			r, err := p.literal()
			if err != nil {
				return nil, err
			}
			seq = append(seq, Node{Kind: KindLiteral, Rune: r})
		}
	}
	return seq, nil
}

// literal consumes one possibly escaped rune.
func (p *parser) literal() (rune, error) {
	if p.src[p.pos] == '\\' {
		if p.pos+1 == len(p.src) {
			return 0, p.errorAt(p.pos, "trailing backslash")
		}
		p.pos++
	}
	r, size := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += size
	return r, nil
}

// alternation parses "{a,b,...}" starting at '{'.
func (p *parser) alternation() ([][]Node, error) {
	open := p.pos
	p.pos++
	var alts [][]Node
	for {
		seq, err := p.sequence(true)
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		if p.pos == len(p.src) {
			return nil, p.errorAt(open, "unclosed '{'")
		}
		sep := p.src[p.pos]
		p.pos++
		if sep == '}' {
			return alts, nil
		}
	}
}

// class parses "[...]" starting at '['.
func (p *parser) class() (*Class, error) {
	open := p.pos
	p.pos++
	cls := &Class{}
	if p.pos < len(p.src) && p.src[p.pos] == '^' {
		cls.Negated = true
		p.pos++
	}
	for {
		if p.pos == len(p.src) {
			return nil, p.errorAt(open, "unclosed '['")
		}
		if p.src[p.pos] == ']' {
			break
		}
		lo, err := p.literal()
		if err != nil {
			return nil, err
		}
		hi := lo
		if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
			dash := p.pos
			p.pos++
			if hi, err = p.literal(); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, p.errorAt(dash, "reversed range in '[...]'")
			}
		}
		cls.Ranges = append(cls.Ranges, lo, hi)
	}
	if len(cls.Ranges) == 0 {
		return nil, p.errorAt(open, "empty '[]'")
	}
	p.pos++
	return cls, nil
}
