package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A matcher finds the non-overlapping matches of a pattern, left to right,
// as byte spans of s appended to dst.
type matcher interface {
	findAll(dst [][2]int, s string) [][2]int
}

// The split patterns of the byte-level BPE families. Their look-ahead
// (\s+(?!\S)) is outside Go's RE2 syntax, so each has an exact hand-written
// matcher below instead of a backtracking regex engine.
const (
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// patternWhitespace is the Whitespace pre-tokenizer's \w+|[^\w\s]+.
	patternWhitespace = `\w+|[^\w\s]+`
)

// compilePattern returns the matcher for a regex of a tokenizer.json:
// a hand-written one for the known look-ahead patterns, else Go's regexp.
func compilePattern(re string) (matcher, error) {
	switch re {
	case patternGPT2:
		return gpt2Matcher{}, nil
	case patternLlama3:
		return llama3Matcher{maxDigits: 3}, nil
	case patternQwen2:
		return llama3Matcher{maxDigits: 1}, nil
	case patternWhitespace:
		return whitespaceMatcher{}, nil
	}
	rx, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("split regex %q: unsupported by Go's RE2 syntax and not a known pattern: %w", re, err)
	}
	return regexpMatcher{rx}, nil
}

type regexpMatcher struct{ rx *regexp.Regexp }

func (m regexpMatcher) findAll(dst [][2]int, s string) [][2]int {
	for _, loc := range m.rx.FindAllStringIndex(s, -1) {
		if loc[0] == loc[1] {
			continue
		}
		dst = append(dst, [2]int{loc[0], loc[1]})
	}
	return dst
}

// literalMatcher finds a fixed string.
type literalMatcher struct{ lit string }

func (m literalMatcher) findAll(dst [][2]int, s string) [][2]int {
	if m.lit == "" {
		return dst
	}
	off := 0
	for {
		i := strings.Index(s[off:], m.lit)
		if i < 0 {
			return dst
		}
		dst = append(dst, [2]int{off + i, off + i + len(m.lit)})
		off += i + len(m.lit)
	}
}

func isL(r rune) bool { return unicode.IsLetter(r) }
func isN(r rune) bool { return unicode.IsNumber(r) }
func isS(r rune) bool { return unicode.IsSpace(r) }

// isP is [^\s\p{L}\p{N}].
func isP(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

// at decodes the rune at byte i (utf8.RuneError and width 1 for bad bytes).
func at(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of runes satisfying f starting at i,
// and how many runes it holds, stopping after max runes when max > 0.
func run(s string, i int, f func(rune) bool, max int) (end, n int) {
	for i < len(s) {
		r, w := at(s, i)
		if !f(r) {
			break
		}
		i += w
		n++
		if max > 0 && n == max {
			break
		}
	}
	return i, n
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\”).
func contraction(s string, i int, fold bool) int {
	r1, w1 := at(s, i+1)
	if w1 == 0 {
		return 0
	}
	lower := func(r rune) rune {
		if !fold {
			return r
		}
		if r == 'ſ' { // U+017F folds to s
			return 's'
		}
		return unicode.ToLower(r)
	}
	switch lower(r1) {
	case 's', 't', 'm', 'd':
		return 1 + w1
	case 'r', 'v', 'l':
		r2, w2 := at(s, i+1+w1)
		want := map[rune]rune{'r': 'e', 'v': 'e', 'l': 'l'}[lower(r1)]
		if w2 > 0 && lower(r2) == want {
			return 1 + w1 + w2
		}
	}
	return 0
}

// spaceRun handles \s+(?!\S)|\s+ at i: the whole whitespace run at the end
// of s or when it is one rune long, else the run less its last rune.
func spaceRun(s string, i int) int {
	end, n := run(s, i, isS, 0)
	if end == len(s) || n == 1 {
		return end
	}
	_, w := utf8.DecodeLastRuneInString(s[:end])
	return end - w
}

// gpt2Matcher is patternGPT2.
type gpt2Matcher struct{}

func (gpt2Matcher) findAll(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		j := gpt2Match(s, i)
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst
}

func gpt2Match(s string, i int) int {
	c, w := at(s, i)
	if c == '\'' {
		if n := contraction(s, i, false); n > 0 {
			return i + n
		}
	}
	k, start := c, i
	if c == ' ' {
		k, _ = at(s, i+1)
		start = i + 1
	}
	switch {
	case k >= 0 && isL(k):
		e, _ := run(s, start, isL, 0)
		return e
	case k >= 0 && isN(k):
		e, _ := run(s, start, isN, 0)
		return e
	case k >= 0 && isP(k):
		e, _ := run(s, start, isP, 0)
		return e
	}
	if isS(c) {
		return spaceRun(s, i)
	}
	return i + w // unreachable: every rune is L, N, P or space
}

// llama3Matcher is patternLlama3 (maxDigits 3) and patternQwen2 (1).
type llama3Matcher struct{ maxDigits int }

func (m llama3Matcher) findAll(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		j := m.match(s, i)
		dst = append(dst, [2]int{i, j})
		i = j
	}
	return dst
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

func (m llama3Matcher) match(s string, i int) int {
	c, w := at(s, i)
	if c == '\'' {
		if n := contraction(s, i, true); n > 0 {
			return i + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(c) {
		e, _ := run(s, i, isL, 0)
		return e
	}
	if !isCRLF(c) && !isN(c) {
		if n, _ := at(s, i+w); n >= 0 && isL(n) {
			e, _ := run(s, i+w, isL, 0)
			return e
		}
	}
	// \p{N}{1,max}
	if isN(c) {
		e, _ := run(s, i, isN, m.maxDigits)
		return e
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := -1
	if isP(c) {
		start = i
	} else if c == ' ' {
		if n, _ := at(s, i+1); n >= 0 && isP(n) {
			start = i + 1
		}
	}
	if start >= 0 {
		e, _ := run(s, start, isP, 0)
		e, _ = run(s, e, isCRLF, 0)
		return e
	}
	// \s*[\r\n]+ : up to the last newline of the whitespace run.
	end, _ := run(s, i, isS, 0)
	if k := strings.LastIndexAny(s[i:end], "\r\n"); k >= 0 {
		return i + k + 1
	}
	return spaceRun(s, i)
}

// whitespaceMatcher is \w+|[^\w\s]+ with Unicode \w (letters, marks,
// digits, connector punctuation).
type whitespaceMatcher struct{}

func isW(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Pc, r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.No, r)
}

func (whitespaceMatcher) findAll(dst [][2]int, s string) [][2]int {
	for i := 0; i < len(s); {
		c, w := at(s, i)
		switch {
		case isW(c):
			e, _ := run(s, i, isW, 0)
			dst = append(dst, [2]int{i, e})
			i = e
		case !isS(c):
			e, _ := run(s, i, func(r rune) bool { return !isW(r) && !isS(r) }, 0)
			dst = append(dst, [2]int{i, e})
			i = e
		default:
			i += w
		}
	}
	return dst
}

// splitBehavior is how matched spans join the text around them.
type splitBehavior int

const (
	splitRemoved splitBehavior = iota
	splitIsolated
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

func parseBehavior(s string) (splitBehavior, error) {
	switch s {
	case "Removed":
		return splitRemoved, nil
	case "Isolated":
		return splitIsolated, nil
	case "MergedWithPrevious":
		return splitMergedWithPrevious, nil
	case "MergedWithNext":
		return splitMergedWithNext, nil
	case "Contiguous":
		return splitContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type span struct {
	lo, hi int
	match  bool
}

// splitSpans cuts s by the matches of m as the Rust NormalizedString::split
// does for behavior b, appending the non-empty pieces to dst.
func splitSpans(dst []string, s string, m matcher, b splitBehavior, invert bool) []string {
	if s == "" {
		return dst
	}
	if b == splitIsolated {
		// Every match and every gap is a piece; invert changes nothing.
		prev := 0
		for _, mt := range m.findAll(nil, s) {
			if prev != mt[0] {
				dst = append(dst, s[prev:mt[0]])
			}
			dst = append(dst, s[mt[0]:mt[1]])
			prev = mt[1]
		}
		if prev != len(s) {
			dst = append(dst, s[prev:])
		}
		return dst
	}
	var spans []span
	prev := 0
	for _, mt := range m.findAll(nil, s) {
		if prev != mt[0] {
			spans = append(spans, span{prev, mt[0], invert})
		}
		spans = append(spans, span{mt[0], mt[1], !invert})
		prev = mt[1]
	}
	if prev != len(s) {
		spans = append(spans, span{prev, len(s), invert})
	}
	var out []span
	switch b {
	case splitIsolated:
		out = spans
		for i := range out {
			out[i].match = false
		}
	case splitRemoved:
		out = spans
	case splitContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(out) > 0 {
				out[len(out)-1].hi = sp.hi
			} else {
				out = append(out, span{sp.lo, sp.hi, false})
			}
			prevMatch = sp.match
		}
	case splitMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].hi = sp.hi
			} else {
				out = append(out, span{sp.lo, sp.hi, false})
			}
			prevMatch = sp.match
		}
	case splitMergedWithNext:
		prevMatch := false
		for k := len(spans) - 1; k >= 0; k-- {
			sp := spans[k]
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].lo = sp.lo
			} else {
				out = append(out, span{sp.lo, sp.hi, false})
			}
			prevMatch = sp.match
		}
		for a, z := 0, len(out)-1; a < z; a, z = a+1, z-1 {
			out[a], out[z] = out[z], out[a]
		}
	}
	for _, sp := range out {
		if !sp.match && sp.hi > sp.lo {
			dst = append(dst, s[sp.lo:sp.hi])
		}
	}
	return dst
}
