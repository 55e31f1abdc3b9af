// Package pathglob matches file paths against AppArmor-style globs, the
// pattern language of KubeArmor's matchPatterns rules.
//
// # Syntax
//
//   - `*` matches any run of characters except `/`.
//   - `**` (or more stars) matches any run of characters, including `/`.
//   - `?` matches exactly one character except `/`.
//   - `[abc]`, `[a-z]` and `[^abc]` match one character of (or not of) a
//     class. A class never matches `/`, negated or not, and may not be empty;
//     a literal `]`, `-` or `\` inside a class is written with a backslash.
//   - `{a,b,c}` matches any one of the comma-separated alternatives, which
//     may themselves contain any syntax, including nested braces. Outside
//     braces a comma is an ordinary character.
//   - `\x` matches the character x literally.
//
// As in AppArmor's parser, a `*` or `**` written directly after a `/` must
// match at least one character, and that first character is not `/`: so
// `/tmp/*` and `/tmp/**` do not match the directory path `/tmp/` itself, and
// `/tmp/**` does not match `/tmp//x`. Characters are UTF-8 code points; an
// invalid byte in a path is one character that only `*`, `**`, `?` and
// negated classes match.
//
// # Errors
//
// Compile rejects malformed patterns with a *SyntaxError that gives the byte
// offset of the problem: an unclosed `[` or `{`, a stray `]` or `}`, an empty
// class, a reversed range, a trailing backslash or invalid UTF-8.
//
// # Implementation
//
// A pattern is parsed into a small syntax tree and compiled into a Thompson
// NFA whose epsilon closures are precomputed as bitsets. Match runs the NFA
// over the path once, so its cost is O(len(path) × states) with no
// backtracking: no pattern can make it exponential. The leading literal part
// of a pattern is checked with a plain prefix comparison first, and a
// pattern without metacharacters is a string comparison. Matching a pattern
// of up to 256 states allocates nothing.
package pathglob
