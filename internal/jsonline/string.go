package jsonline

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// ASCII bytes written as they are: plainHTML for encoding/json's default,
// plain after SetEscapeHTML(false). Bytes from 0x80 up are false in both
// and take the UTF-8 path.
var plainHTML, plain = asciiTables()

func asciiTables() (html, noHTML [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		switch c {
		case '"', '\\':
		case '<', '>', '&':
			noHTML[c] = true
		default:
			html[c], noHTML[c] = true, true
		}
	}
	return html, noHTML
}

// appendString appends s as a JSON string the way encoding/json writes it.
func appendString(dst []byte, s string, escapeHTML bool) []byte {
	tbl := &plain
	if escapeHTML {
		tbl = &plainHTML
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(load8(s[i:i+8])) && (!escapeHTML || noHTML8(load8(s[i:i+8]))) {
			i += 8
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if tbl[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendASCIIEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendASCIIEscape appends the escape of an ASCII byte that is not
// written as it is.
func appendASCIIEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroByte has the high bit of each zero byte of x set (and maybe of
// bytes above one), so it is non-zero when and only when x has a zero byte.
func zeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// load8 reads the first 8 bytes of s, little-endian.
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether none of the 8 bytes of x is below 0x20, from
// 0x80 up, " or \\.
func plain8(x uint64) bool {
	return ((x-0x20*lsb)&^x|x|zeroByte(x^'"'*lsb)|zeroByte(x^'\\'*lsb))&msb == 0
}

// noHTML8 reports whether none of the 8 bytes of x is <, > or &.
func noHTML8(x uint64) bool {
	return zeroByte(x^'<'*lsb)|zeroByte(x^'>'*lsb)|zeroByte(x^'&'*lsb) == 0
}
