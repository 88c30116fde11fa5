package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites one piece of text before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type normForm struct{ f norm.Form }

func (n normForm) normalize(s string) string { return n.f.String(s) }

type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

// prepend adds its text before every non-empty piece.
type prepend struct{ text string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.text + s
}

// replace replaces every match of a literal or regex with content.
type replace struct {
	m       matcher
	content string
}

func (r replace) normalize(s string) string { return replaceAll(s, r.m, r.content) }

func replaceAll(s string, m matcher, content string) string {
	if lm, ok := m.(literalMatcher); ok {
		if lm.lit == "" {
			return s
		}
		return strings.ReplaceAll(s, lm.lit, content)
	}
	var b strings.Builder
	prev := 0
	for _, sp := range m.findAll(nil, s) {
		b.WriteString(s[prev:sp[0]])
		b.WriteString(content)
		prev = sp[1]
	}
	b.WriteString(s[prev:])
	return b.String()
}

type strip struct{ left, right bool }

func (st strip) normalize(s string) string {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// stripAccents drops combining marks (run after NFD to remove accents).
type stripAccents struct{}

func (stripAccents) normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

type normSeq []normalizer

func (q normSeq) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// patternJSON is the {"String": ...} or {"Regex": ...} of Split and Replace.
type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func (p patternJSON) matcher() (matcher, error) {
	switch {
	case p.String != nil:
		return literalMatcher{*p.String}, nil
	case p.Regex != nil:
		return compilePattern(*p.Regex)
	}
	return nil, fmt.Errorf("pattern has neither String nor Regex")
}

type componentJSON struct {
	Type string `json:"type"`
	// Sequence members under their various names.
	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`

	Prepend        string          `json:"prepend"`
	Pattern        patternJSON     `json:"pattern"`
	Content        json.RawMessage `json:"content"`
	StripLeft      bool            `json:"strip_left"`
	StripRight     bool            `json:"strip_right"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	AddPrefixSpace *bool           `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
	Replacement    string          `json:"replacement"`
	PrependScheme  string          `json:"prepend_scheme"`
	Split          *bool           `json:"split"`
	IndividualDigs bool            `json:"individual_digits"`
	Start          int             `json:"start"`
	Stop           int             `json:"stop"`
	Lowercase      *bool           `json:"lowercase"`

	Single        []templatePieceJSON            `json:"single"`
	SpecialTokens map[string]templateSpecialJSON `json:"special_tokens"`
	Sep           rawJSON                        `json:"sep"`
	Cls           rawJSON                        `json:"cls"`
}

func parseComponent(raw json.RawMessage) (*componentJSON, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "NFC":
		return normForm{norm.NFC}, nil
	case "NFD":
		return normForm{norm.NFD}, nil
	case "NFKC":
		return normForm{norm.NFKC}, nil
	case "NFKD":
		return normForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Prepend":
		return prepend{c.Prepend}, nil
	case "Replace":
		m, err := c.Pattern.matcher()
		if err != nil {
			return nil, fmt.Errorf("Replace normalizer: %w", err)
		}
		var content string
		if err := json.Unmarshal(c.Content, &content); err != nil {
			return nil, fmt.Errorf("Replace normalizer content: %w", err)
		}
		return replace{m, content}, nil
	case "Strip":
		return strip{c.StripLeft, c.StripRight}, nil
	case "StripAccents":
		return stripAccents{}, nil
	case "Sequence":
		var q normSeq
		for i, r := range c.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, fmt.Errorf("normalizer %d of Sequence: %w", i, err)
			}
			if n != nil {
				q = append(q, n)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("unsupported normalizer %q", c.Type)
}

// rawJSON keeps a field's JSON for a second, type-specific decode.
type rawJSON json.RawMessage

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

func (r rawJSON) raw() json.RawMessage { return json.RawMessage(r) }
