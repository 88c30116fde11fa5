package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A decoder turns the tokens of a sequence back into text pieces, as the
// Rust decode_chain does; the pieces are then joined.
type decoder interface {
	decodeChain(tokens []string) []string
}

type byteLevelDec struct{}

func (byteLevelDec) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		buf = byteLevelDecodeToken(buf, t)
	}
	return []string{lossy(buf)}
}

// lossy converts bytes to a string, replacing each invalid sequence with
// U+FFFD the way Rust's String::from_utf8_lossy does.
func lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r == utf8.RuneError && w <= 1 {
			// from_utf8_lossy replaces a maximal invalid prefix of a
			// would-be sequence with one U+FFFD.
			n := invalidPrefix(b)
			sb.WriteRune(utf8.RuneError)
			b = b[n:]
			continue
		}
		sb.Write(b[:w])
		b = b[w:]
	}
	return sb.String()
}

// invalidPrefix is the length of the maximal prefix of b that starts a
// valid UTF-8 sequence but is cut short (at least 1), per the WHATWG/Rust
// "substitution of maximal subparts" rule.
func invalidPrefix(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if x < lo || x > hi {
			break
		}
		lo, hi = 0x80, 0xBF
		n++
	}
	return n
}

type byteFallbackDec struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | (c - '0')
		case c >= 'A' && c <= 'F':
			v = v<<4 | (c - 'A' + 10)
		case c >= 'a' && c <= 'f':
			v = v<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return v, true
}

func (byteFallbackDec) decodeChain(tokens []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type fuseDec struct{}

func (fuseDec) decodeChain(tokens []string) []string { return []string{strings.Join(tokens, "")} }

type stripDec struct {
	content     rune
	start, stop int
}

func (d stripDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		r := []rune(t)
		a := 0
		for a < d.start && a < len(r) && r[a] == d.content {
			a++
		}
		z := len(r)
		for k := 0; k < d.stop && z > a && r[z-1] == d.content; k++ {
			z--
		}
		out[i] = string(r[a:z])
	}
	return out
}

type replaceDec struct {
	m       matcher
	content string
}

func (d replaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = replaceAll(t, d.m, d.content)
	}
	return out
}

type metaspaceDec struct {
	repl   string
	scheme prependScheme
}

func (d metaspaceDec) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		s := strings.ReplaceAll(t, d.repl, " ")
		if i == 0 && d.scheme != prependNever {
			s = strings.TrimPrefix(s, " ")
		}
		out[i] = s
	}
	return out
}

type decSeq []decoder

func (q decSeq) decodeChain(tokens []string) []string {
	for _, d := range q {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

func parseDecoder(raw []byte) (decoder, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDec{}, nil
	case "ByteFallback":
		return byteFallbackDec{}, nil
	case "Fuse":
		return fuseDec{}, nil
	case "Strip":
		var content string
		if err := json.Unmarshal(c.Content, &content); err != nil || utf8.RuneCountInString(content) != 1 {
			return nil, fmt.Errorf("Strip decoder: content must be one character")
		}
		r, _ := utf8.DecodeRuneInString(content)
		return stripDec{r, c.Start, c.Stop}, nil
	case "Replace":
		m, err := c.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Replace decoder: %w", err)
		}
		var content string
		if err := json.Unmarshal(c.Content, &content); err != nil {
			return nil, fmt.Errorf("Replace decoder content: %w", err)
		}
		return replaceDec{m, content}, nil
	case "Metaspace":
		repl := c.Replacement
		if repl == "" {
			repl = "▁"
		}
		scheme, err := parsePrependScheme(c.PrependScheme, c.AddPrefixSpace)
		if err != nil {
			return nil, fmt.Errorf("Metaspace decoder: %w", err)
		}
		return metaspaceDec{repl, scheme}, nil
	case "Sequence":
		var q decSeq
		for i, r := range c.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, fmt.Errorf("decoder %d of Sequence: %w", i, err)
			}
			if d != nil {
				q = append(q, d)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("unsupported decoder %q", c.Type)
}
