package tokenizer

import "unicode/utf8"

// byteToRune and runeToByte are GPT-2's bytes_to_unicode table: printable
// bytes stand for themselves, the others are shifted to U+0100 and up so
// that every byte has a visible, non-space character.
var (
	byteToRune [256]rune
	runeToByte = map[rune]byte{}
	// byteToString holds the UTF-8 form of byteToRune for fast appends.
	byteToString [256]string
)

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = rune(256 + n)
			n++
		}
		runeToByte[byteToRune[b]] = byte(b)
		byteToString[b] = string(byteToRune[b])
	}
}

// byteLevelEncode maps every byte of s to its byte-level character.
func byteLevelEncode(s string) string {
	buf := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, byteToRune[s[i]])
	}
	return string(buf)
}

// byteLevelDecodeToken maps the characters of a byte-level token back to
// bytes; a token with a character outside the table is kept as it is, as the
// Rust decoder does.
func byteLevelDecodeToken(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return append(dst[:start], tok...)
		}
		dst = append(dst, b)
	}
	return dst
}
