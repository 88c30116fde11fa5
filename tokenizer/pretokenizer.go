package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
)

// A piece is a stretch of normalized text on its way to the model; atStart
// says it begins at offset 0 of the original input (Metaspace's "first").
type piece struct {
	s       string
	atStart bool
}

// A preTokenizer cuts one piece into words for the model.
type preTokenizer interface {
	preTokenize(dst []piece, p piece) []piece
}

// splitPieces applies splitSpans to p and keeps atStart on the first piece
// when it starts at offset 0.
func splitPieces(dst []piece, p piece, m matcher, b splitBehavior, invert bool) []piece {
	var buf [16]string
	parts := splitSpans(buf[:0], p.s, m, b, invert)
	for i, s := range parts {
		start := p.atStart && i == 0 && strings.HasPrefix(p.s, s)
		dst = append(dst, piece{s, start})
	}
	return dst
}

type splitPre struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

func (sp splitPre) preTokenize(dst []piece, p piece) []piece {
	return splitPieces(dst, p, sp.m, sp.behavior, sp.invert)
}

// byteLevelPre is the ByteLevel pre-tokenizer: optional prefix space, the
// GPT-2 split, then every byte mapped to its visible character.
type byteLevelPre struct {
	addPrefixSpace, useRegex bool
}

func (bl byteLevelPre) preTokenize(dst []piece, p piece) []piece {
	s := p.s
	if bl.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	if !bl.useRegex {
		if s == "" {
			return dst
		}
		return append(dst, piece{byteLevelEncode(s), p.atStart})
	}
	n := len(dst)
	dst = splitPieces(dst, piece{s, p.atStart}, gpt2Matcher{}, splitIsolated, false)
	for i := n; i < len(dst); i++ {
		dst[i].s = byteLevelEncode(dst[i].s)
	}
	return dst
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

func parsePrependScheme(s string, addPrefixSpace *bool) (prependScheme, error) {
	switch s {
	case "always":
		return prependAlways, nil
	case "first":
		return prependFirst, nil
	case "never":
		return prependNever, nil
	case "":
		if addPrefixSpace != nil && !*addPrefixSpace {
			return prependNever, nil
		}
		return prependAlways, nil
	}
	return 0, fmt.Errorf("unknown prepend_scheme %q", s)
}

// metaspacePre replaces spaces with the replacement (▁), prepends one per
// the scheme and optionally splits before each replacement.
type metaspacePre struct {
	repl   string
	scheme prependScheme
	split  bool
}

func (m metaspacePre) preTokenize(dst []piece, p piece) []piece {
	s := strings.ReplaceAll(p.s, " ", m.repl)
	if !strings.HasPrefix(s, m.repl) && (m.scheme == prependAlways || (m.scheme == prependFirst && p.atStart)) {
		s = m.repl + s
	}
	if !m.split {
		if s == "" {
			return dst
		}
		return append(dst, piece{s, p.atStart})
	}
	return splitPieces(dst, piece{s, p.atStart}, literalMatcher{m.repl}, splitMergedWithNext, false)
}

// runeClassMatcher matches runs (or single runes) of a character class.
type runeClassMatcher struct {
	f      func(rune) bool
	single bool
}

func (m runeClassMatcher) findAll(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		r, w := at(s, i)
		if !m.f(r) {
			i += w
			continue
		}
		max := 0
		if m.single {
			max = 1
		}
		e, _ := run(s, i, m.f, max)
		dst = append(dst, [2]int{i, e})
		i = e
	}
	return dst
}

func isPunct(r rune) bool {
	return unicode.IsPunct(r) || (r < 128 && unicode.IsSymbol(r))
}

type preSeq []preTokenizer

// pieceBufs are the two buffers a Sequence pre-tokenizer alternates
// between, pooled.
type pieceBufs struct{ a, b []piece }

var pieceBufPool = sync.Pool{New: func() any { return new(pieceBufs) }}

func (q preSeq) preTokenize(dst []piece, p piece) []piece {
	bufs := pieceBufPool.Get().(*pieceBufs)
	cur, next := append(bufs.a[:0], p), bufs.b[:0]
	for _, pt := range q {
		next = next[:0]
		for _, c := range cur {
			next = pt.preTokenize(next, c)
		}
		cur, next = next, cur
	}
	dst = append(dst, cur...)
	clear(cur)
	clear(next)
	bufs.a, bufs.b = cur[:0], next[:0]
	pieceBufPool.Put(bufs)
	return dst
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func parsePreTokenizer(raw []byte) (preTokenizer, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelPre{addPrefixSpace: boolOr(c.AddPrefixSpace, true), useRegex: boolOr(c.UseRegex, true)}, nil
	case "Split":
		m, err := c.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Split pre-tokenizer: %w", err)
		}
		b, err := parseBehavior(c.Behavior)
		if err != nil {
			return nil, fmt.Errorf("Split pre-tokenizer: %w", err)
		}
		return splitPre{m, b, c.Invert}, nil
	case "Metaspace":
		repl := c.Replacement
		if repl == "" {
			repl = "▁"
		}
		scheme, err := parsePrependScheme(c.PrependScheme, c.AddPrefixSpace)
		if err != nil {
			return nil, fmt.Errorf("Metaspace pre-tokenizer: %w", err)
		}
		return metaspacePre{repl, scheme, boolOr(c.Split, true)}, nil
	case "Digits":
		return splitPre{runeClassMatcher{unicode.IsNumber, c.IndividualDigs}, splitIsolated, false}, nil
	case "Punctuation":
		b := splitIsolated
		if c.Behavior != "" {
			if b, err = parseBehavior(c.Behavior); err != nil {
				return nil, fmt.Errorf("Punctuation pre-tokenizer: %w", err)
			}
		}
		return splitPre{runeClassMatcher{isPunct, true}, b, false}, nil
	case "Whitespace":
		return splitPre{whitespaceMatcher{}, splitRemoved, true}, nil
	case "WhitespaceSplit":
		return splitPre{runeClassMatcher{unicode.IsSpace, false}, splitRemoved, false}, nil
	case "Sequence":
		var q preSeq
		for i, r := range c.PreTokenizers {
			pt, err := parsePreTokenizer(r)
			if err != nil {
				return nil, fmt.Errorf("pre-tokenizer %d of Sequence: %w", i, err)
			}
			if pt != nil {
				q = append(q, pt)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("unsupported pre-tokenizer %q", c.Type)
}
