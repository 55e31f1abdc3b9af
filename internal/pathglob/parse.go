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

type nodeKind uint8

const (
	nodeLiteral nodeKind = iota // one rune
	nodeAny                     // ?
	nodeClass                   // [...]
	nodeStar                    // * or **
	nodeAlt                     // {a,b}
)

// node is one element of a parsed pattern.
type node struct {
	kind nodeKind
	r    rune       // nodeLiteral
	cls  *charClass // nodeClass
	// deep is set for **; afterSlash when the star directly follows a '/'
	// in the pattern text and must therefore match at least one non-'/'.
	deep, afterSlash bool
	alts             [][]node // nodeAlt
}

// charClass is a bracket expression: a set of inclusive rune ranges.
type charClass struct {
	negated bool
	ranges  []rune // pairs lo, hi
}

func (c *charClass) contains(r rune) bool {
	if r == '/' {
		return false
	}
	in := false
	for i := 0; i < len(c.ranges); i += 2 {
		if c.ranges[i] <= r && r <= c.ranges[i+1] {
			in = true
			break
		}
	}
	return in != c.negated
}

type parser struct {
	src string
	pos int
}

func parse(pattern string) ([]node, error) {
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
func (p *parser) sequence(inBraces bool) ([]node, error) {
	var seq []node
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; c {
		case '*':
			start := p.pos
			for p.pos < len(p.src) && p.src[p.pos] == '*' {
				p.pos++
			}
			seq = append(seq, node{
				kind:       nodeStar,
				deep:       p.pos-start > 1,
				afterSlash: start > 0 && p.src[start-1] == '/',
			})
		case '?':
			p.pos++
			seq = append(seq, node{kind: nodeAny})
		case '[':
			cls, err := p.class()
			if err != nil {
				return nil, err
			}
			seq = append(seq, node{kind: nodeClass, cls: cls})
		case ']':
			return nil, p.errorAt(p.pos, "unmatched ']'")
		case '{':
			alts, err := p.alternation()
			if err != nil {
				return nil, err
			}
			seq = append(seq, node{kind: nodeAlt, alts: alts})
		case '}', ',':
			if inBraces {
				return seq, nil
			}
			if c == '}' {
				return nil, p.errorAt(p.pos, "unmatched '}'")
			}
			p.pos++
			seq = append(seq, node{kind: nodeLiteral, r: ','})
		default:
			r, err := p.literal()
			if err != nil {
				return nil, err
			}
			seq = append(seq, node{kind: nodeLiteral, r: r})
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
func (p *parser) alternation() ([][]node, error) {
	open := p.pos
	p.pos++
	var alts [][]node
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
func (p *parser) class() (*charClass, error) {
	open := p.pos
	p.pos++
	cls := &charClass{}
	if p.pos < len(p.src) && p.src[p.pos] == '^' {
		cls.negated = true
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
		cls.ranges = append(cls.ranges, lo, hi)
	}
	if len(cls.ranges) == 0 {
		return nil, p.errorAt(open, "empty '[]'")
	}
	p.pos++
	return cls, nil
}
