package bpflsm

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/bulwark-security/bulwark/internal/pathglob"
)

// This file compiles the matchPatterns globs of one class of a workload into
// a single byte-level DFA that the kernel walks over the path's bytes: one
// array-map lookup per byte, whatever the number of patterns. Accepting
// states name the set of patterns that match, and the rules-map entries of
// that accept set carry the patterns' verdicts.
//
// The syntax and the parse tree are package pathglob's. Differences, on non-ASCII input only:
// `?` and bracket classes consume one byte rather than one UTF-8 character,
// and a class with non-ASCII members accepts any byte >= 0x80 (Compile
// warns). Literals, `*` and `**` are exact at the byte level.

type byteSet [4]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

func notSlash() byteSet {
	var s byteSet
	s.addRange(0, 255)
	s[0] &^= 1 << '/'
	return s
}

func allBytes() byteSet {
	var s byteSet
	s.addRange(0, 255)
	return s
}

// nstate is an NFA state: it consumes a byte of set and goes to next, or
// moves by epsilon to eps, or accepts pattern acc (>= 0).
type nstate struct {
	set     *byteSet
	next    int
	eps     []int
	acc     int
	consume bool
}

type nfa struct {
	st       []nstate
	nonASCII bool
}

func (n *nfa) add(s nstate) int { n.st = append(n.st, s); return len(n.st) - 1 }

func (n *nfa) consume(set byteSet, next int) int {
	return n.add(nstate{set: &set, next: next, acc: -1, consume: true})
}

func (n *nfa) sequence(seq []pathglob.Node, next int) int {
	for i := len(seq) - 1; i >= 0; i-- {
		next = n.node(seq[i], next)
	}
	return next
}

// node compiles one element of pathglob's parse tree, back to front: a
// literal becomes the bytes of its UTF-8 encoding, `?` and classes one
// byte (see the file comment).
func (n *nfa) node(g pathglob.Node, next int) int {
	switch g.Kind {
	case pathglob.KindLiteral:
		lit := utf8.AppendRune(nil, g.Rune)
		for i := len(lit) - 1; i >= 0; i-- {
			var s byteSet
			s.add(lit[i])
			next = n.consume(s, next)
		}
		return next
	case pathglob.KindAny:
		return n.consume(notSlash(), next)
	case pathglob.KindClass:
		return n.consume(n.classBytes(g.Class), next)
	case pathglob.KindStar:
		loop := n.add(nstate{acc: -1})
		body := notSlash()
		if g.Deep {
			body = allBytes()
		}
		n.st[loop].eps = []int{n.consume(body, loop), next}
		if g.AfterSlash {
			return n.consume(notSlash(), loop)
		}
		return loop
	default: // pathglob.KindAlt
		starts := make([]int, len(g.Alts))
		for i, alt := range g.Alts {
			starts[i] = n.sequence(alt, next)
		}
		return n.add(nstate{eps: starts, acc: -1})
	}
}

// classBytes is the byte set of a bracket class: its ASCII members, and
// every byte >= 0x80 when a member is not ASCII (recorded in nonASCII);
// complemented when negated; never '/'.
func (n *nfa) classBytes(c *pathglob.Class) byteSet {
	var set byteSet
	for i := 0; i < len(c.Ranges); i += 2 {
		lo, hi := c.Ranges[i], c.Ranges[i+1]
		if hi >= 0x80 {
			n.nonASCII = true
			set.addRange(0x80, 0xff)
		}
		if lo < 0x80 {
			set.addRange(byte(lo), byte(min(hi, 0x7f)))
		}
	}
	if c.Negated {
		for i := range set {
			set[i] = ^set[i]
		}
	}
	set[0] &^= 1 << '/'
	return set
}

// DFA is the pattern automaton of one class. Row i (1-based) is Rows[i-1];
// next state 0 is the dead state. AcceptSets[a-1] lists the indexes (into
// the patterns given to buildDFA) that match when a path ends in a state
// whose Accept is a.
type DFA struct {
	Rows       [][256]uint32
	Accept     []uint32
	AcceptSets [][]int
}

// buildDFA compiles patterns into one DFA by subset construction, failing
// when it would exceed maxStates.
func buildDFA(patterns []string, maxStates int) (*DFA, bool, error) {
	n := &nfa{}
	var starts []int
	for i, pat := range patterns {
		seq, err := pathglob.Parse(pat)
		if err != nil {
			return nil, false, fmt.Errorf("pattern %q: %w", pat, err)
		}
		acc := n.add(nstate{acc: i})
		starts = append(starts, n.sequence(seq, acc))
	}
	mark := make([]uint32, len(n.st))
	epoch := uint32(0)
	var stack []int
	closure := func(set []int) []int {
		epoch++
		var out []int
		stack = append(stack[:0], set...)
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if mark[s] == epoch {
				continue
			}
			mark[s] = epoch
			out = append(out, s)
			stack = append(stack, n.st[s].eps...)
		}
		slices.Sort(out)
		return out
	}
	keyOf := func(set []int) string {
		b := make([]byte, 0, 4*len(set))
		for _, s := range set {
			b = binary.LittleEndian.AppendUint32(b, uint32(s))
		}
		return string(b)
	}
	// Bytes that no consuming state tells apart share one class: the
	// construction works per class, not per byte.
	classOf, reps := byteClasses(n)
	d := &DFA{}
	ids := map[string]uint32{}
	acceptIDs := map[string]uint32{}
	var queue [][]int
	intern := func(set []int) (uint32, error) {
		if len(set) == 0 {
			return 0, nil
		}
		k := keyOf(set)
		if id, ok := ids[k]; ok {
			return id, nil
		}
		if len(d.Rows) >= maxStates {
			return 0, fmt.Errorf("pattern DFA needs more than %d states", maxStates)
		}
		d.Rows = append(d.Rows, [256]uint32{})
		var acc []int
		for _, s := range set {
			if n.st[s].acc >= 0 {
				acc = append(acc, n.st[s].acc)
			}
		}
		var a uint32
		if len(acc) > 0 {
			slices.Sort(acc)
			ak := fmt.Sprint(acc)
			if a = acceptIDs[ak]; a == 0 {
				d.AcceptSets = append(d.AcceptSets, acc)
				a = uint32(len(d.AcceptSets))
				acceptIDs[ak] = a
			}
		}
		d.Accept = append(d.Accept, a)
		id := uint32(len(d.Rows))
		ids[k] = id
		queue = append(queue, set)
		return id, nil
	}
	if _, err := intern(closure(starts)); err != nil {
		return nil, false, err
	}
	for i := 0; i < len(queue); i++ {
		set := queue[i]
		ids := make([]uint32, len(reps))
		for k, c := range reps {
			var next []int
			for _, s := range set {
				if st := n.st[s]; st.consume && st.set.has(c) {
					next = append(next, st.next)
				}
			}
			id, err := intern(closure(next))
			if err != nil {
				return nil, false, err
			}
			ids[k] = id
		}
		for c := range 256 {
			d.Rows[i][c] = ids[classOf[c]]
		}
	}
	return d, n.nonASCII, nil
}

// byteClasses partitions the bytes by the consuming states that accept
// them; it returns each byte's class and one representative per class.
func byteClasses(n *nfa) (classOf [256]int, reps []byte) {
	var sets []byteSet
	seen := map[byteSet]bool{}
	for _, st := range n.st {
		if st.consume && !seen[*st.set] {
			seen[*st.set] = true
			sets = append(sets, *st.set)
		}
	}
	sig := map[string]int{}
	words := make([]byte, (len(sets)+7)/8)
	for c := range 256 {
		clear(words)
		for i, set := range sets {
			if set.has(byte(c)) {
				words[i/8] |= 1 << (i % 8)
			}
		}
		k := string(words)
		id, ok := sig[k]
		if !ok {
			id = len(reps)
			sig[k] = id
			reps = append(reps, byte(c))
		}
		classOf[c] = id
	}
	return classOf, reps
}

// Match runs the DFA over path and returns the matching pattern indexes.
func (d *DFA) Match(path string) []int {
	if d == nil || len(d.Rows) == 0 {
		return nil
	}
	s := uint32(1)
	for i := 0; i < len(path) && s != 0; i++ {
		s = d.Rows[s-1][path[i]]
	}
	if s == 0 || d.Accept[s-1] == 0 {
		return nil
	}
	return d.AcceptSets[d.Accept[s-1]-1]
}
