package pathglob

// This file compiles a parsed pattern into the NFA that Glob.Match runs.

type instKind uint8

const (
	instConsume instKind = iota // consume one rune accepted by st, go to next
	instSplit                   // epsilon moves to every alts entry
	instAccept                  // the whole pattern matched
)

type inst struct {
	kind instKind
	st   state
	next int
	alts []int
}

// builder emits instructions back to front: every element is compiled with
// the index of what follows it already known, so no patching is needed
// except for the loop of a star.
type builder struct {
	insts []inst
	memo  [][]uint64 // epsilon closures by instruction, in Glob state ids
	ids   []int      // Glob state id of each non-split instruction
	words int
}

func newBuilder() *builder { return &builder{} }

func (b *builder) add(in inst) int {
	b.insts = append(b.insts, in)
	return len(b.insts) - 1
}

func (b *builder) consume(kind predKind, next int) int {
	return b.add(inst{kind: instConsume, st: state{kind: kind}, next: next})
}

func (b *builder) sequence(seq []Node, next int) int {
	for i := len(seq) - 1; i >= 0; i-- {
		next = b.node(seq[i], next)
	}
	return next
}

func (b *builder) node(nd Node, next int) int {
	switch nd.Kind {
	case KindLiteral:
		return b.add(inst{kind: instConsume, st: state{kind: predRune, r: nd.Rune}, next: next})
	case KindAny:
		return b.consume(predNotSlash, next)
	case KindClass:
		return b.add(inst{kind: instConsume, st: state{kind: predClass, cls: nd.Class}, next: next})
	case KindStar:
		loop := b.add(inst{kind: instSplit})
		body := predNotSlash
		if nd.Deep {
			body = predAnyRune
		}
		b.insts[loop].alts = []int{b.consume(body, loop), next}
		if nd.AfterSlash {
			return b.consume(predNotSlash, loop)
		}
		return loop
	default: // KindAlt
		starts := make([]int, len(nd.Alts))
		for i, alt := range nd.Alts {
			starts[i] = b.sequence(alt, next)
		}
		return b.add(inst{kind: instSplit, alts: starts})
	}
}

// build compiles seq into g's NFA. Split instructions disappear: each
// consuming state records, as a bitset, the states reachable from its
// successor by epsilon moves alone.
func (b *builder) build(g *Glob, seq []Node) {
	accept := b.add(inst{kind: instAccept})
	entry := b.sequence(seq, accept)

	b.ids = make([]int, len(b.insts))
	n := 0
	for i, in := range b.insts {
		if in.kind != instSplit {
			b.ids[i] = n
			n++
		}
	}
	b.words = (n + 63) / 64
	b.memo = make([][]uint64, len(b.insts))

	g.words = b.words
	g.states = make([]state, n)
	g.closures = make([]uint64, n*b.words)
	g.start = b.closure(entry)
	for i, in := range b.insts {
		id := b.ids[i]
		switch in.kind {
		case instConsume:
			g.states[id] = in.st
			copy(g.closures[id*b.words:], b.closure(in.next))
		case instAccept:
			g.states[id] = state{kind: predNone}
			g.accept = id
		}
	}
}

// closure returns the states reachable from instruction i by epsilon moves.
// The epsilon graph is acyclic (every star loop consumes a rune), so plain
// memoised recursion terminates.
func (b *builder) closure(i int) []uint64 {
	if c := b.memo[i]; c != nil {
		return c
	}
	c := make([]uint64, b.words)
	if in := b.insts[i]; in.kind == instSplit {
		for _, a := range in.alts {
			for k, w := range b.closure(a) {
				c[k] |= w
			}
		}
	} else {
		c[b.ids[i]/64] |= 1 << (b.ids[i] % 64)
	}
	b.memo[i] = c
	return c
}
