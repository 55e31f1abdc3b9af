package bpflsm

// Hashes of paths and names, computed exactly as bpf/bulwark.c computes them
// while it scans a path: h1 (seeded FNV-1a) is the rules-map key, h2 (a
// second seeded multiplicative hash) is stored in the value and checked, so
// a path that is not in the spec matches an entry only if both 64-bit hashes
// collide.

const (
	h1Prime = 0x100000001b3
	h2Mul   = 0x9E3779B97F4A7C15
	h2Add   = 0x7f4a7c15
	srcMul  = 0xff51afd7ed558ccd
)

// Seed holds the two hash seeds. The enforcer draws them at random when it
// starts, so that paths colliding with a rule cannot be precomputed.
type Seed struct{ H1, H2 uint64 }

// DefaultSeed is used by Compile when no seed is given (tests, goldens).
var DefaultSeed = Seed{H1: 0xcbf29ce484222325, H2: 0x84222325cbf29ce4}

func (s Seed) hash(str string) (uint64, uint64) {
	h1, h2 := s.H1, s.H2
	for i := 0; i < len(str); i++ {
		c := uint64(str[i])
		h1 = (h1 ^ c) * h1Prime
		h2 = ((h2 ^ c) + h2Add) * h2Mul
	}
	return h1, h2
}
