package tokenizer

import (
	"encoding/json"
	"fmt"
)

// A postProcessor adds the special tokens of a single sequence.
type postProcessor interface {
	process(ids []int) []int
}

type templatePieceJSON struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type templateSpecialJSON struct {
	ID     string   `json:"id"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// template is TemplateProcessing's single template: ids before and after
// the sequence.
type template struct{ before, after []int }

func (t template) process(ids []int) []int {
	out := make([]int, 0, len(t.before)+len(ids)+len(t.after))
	out = append(out, t.before...)
	out = append(out, ids...)
	return append(out, t.after...)
}

type postSeq []postProcessor

func (q postSeq) process(ids []int) []int {
	for _, p := range q {
		ids = p.process(ids)
	}
	return ids
}

// noPost is a post-processor that adds nothing (ByteLevel only trims offsets).
type noPost struct{}

func (noPost) process(ids []int) []int { return ids }

func parseTokenIDPair(raw json.RawMessage) (int, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return 0, fmt.Errorf("want [token, id]")
	}
	var id int
	if err := json.Unmarshal(pair[1], &id); err != nil {
		return 0, err
	}
	return id, nil
}

func parsePostProcessor(raw []byte) (postProcessor, error) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return nil, err
	}
	switch c.Type {
	case "ByteLevel":
		return noPost{}, nil
	case "TemplateProcessing":
		var t template
		seen := false
		for _, p := range c.Single {
			switch {
			case p.Sequence != nil:
				seen = true
			case p.SpecialToken != nil:
				sp, ok := c.SpecialTokens[p.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("TemplateProcessing: special token %q missing from special_tokens", p.SpecialToken.ID)
				}
				if seen {
					t.after = append(t.after, sp.IDs...)
				} else {
					t.before = append(t.before, sp.IDs...)
				}
			}
		}
		return t, nil
	case "RobertaProcessing", "BertProcessing":
		cls, err := parseTokenIDPair(c.Cls.raw())
		if err != nil {
			return nil, fmt.Errorf("%s cls: %w", c.Type, err)
		}
		sep, err := parseTokenIDPair(c.Sep.raw())
		if err != nil {
			return nil, fmt.Errorf("%s sep: %w", c.Type, err)
		}
		return template{[]int{cls}, []int{sep}}, nil
	case "Sequence":
		var q postSeq
		for i, r := range c.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, fmt.Errorf("post-processor %d of Sequence: %w", i, err)
			}
			if p != nil {
				q = append(q, p)
			}
		}
		return q, nil
	}
	return nil, fmt.Errorf("unsupported post-processor %q", c.Type)
}
