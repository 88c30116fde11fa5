package tokensurgeon

import (
	"log/slog"
	"slices"
	"strings"
)

// Normalised tokens (mergekit's tokenizer/normalization.py) let tokens of
// different tokenizer families match: a word-start marker ("▁" for
// SentencePiece-style tokenizers, "Ġ" for GPT-2-style ones) becomes one
// common prefix, and a token that holds a special role (bos_token,
// eos_token, ...) becomes that role, so that one model's </s> and another's
// <|im_end|> match when both are the eos_token.
const (
	wordStart = "\x00W:"
	special   = "\x00S:"
)

// marker guesses a tokenizer's word-start marker from its class, as
// mergekit does: GPT-2, OpenAI-GPT and Qwen2 classes use "Ġ"; Llama, T5 and
// Gemma classes "▁" unless the vocabulary has "Ġhello" (DeepSeek); other
// classes "Ġ".
func marker(m *ModelFiles, log *slog.Logger) string {
	class, _ := m.TokenizerConfig["tokenizer_class"].(string)
	class = strings.TrimSuffix(class, "Fast")
	switch class {
	case "GPT2Tokenizer", "OpenAIGPTTokenizer", "Qwen2Tokenizer":
		return "Ġ"
	case "LlamaTokenizer", "T5Tokenizer", "GemmaTokenizer", "CodeLlamaTokenizer":
		if _, ok := m.Vocab["Ġhello"]; ok {
			return "Ġ"
		}
		return "▁"
	}
	if log != nil {
		log.Warn("unknown tokenizer class; assuming the \"Ġ\" word-start marker", "dir", m.Dir, "class", class)
	}
	return "Ġ"
}

// specialRoles maps each special token to its role, as transformers'
// special_tokens_map: bos_token, eos_token, unk_token, sep_token,
// pad_token, cls_token, mask_token and additional_special_tokens.
func specialRoles(m *ModelFiles) map[string]string {
	roles := map[string]string{}
	for _, r := range []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"} {
		if t := m.TokenOf(r); t != "" {
			if _, ok := roles[t]; !ok {
				roles[t] = r + "_token"
			}
		}
	}
	for _, src := range []map[string]any{m.TokenizerConfig, m.SpecialMap} {
		list, _ := src["additional_special_tokens"].([]any)
		for _, e := range list {
			t, _ := e.(string)
			if mm, ok := e.(map[string]any); ok {
				t, _ = mm["content"].(string)
			}
			if _, ok := roles[t]; t != "" && !ok {
				roles[t] = "additional_special_tokens"
			}
		}
	}
	return roles
}

// normalizedVocab is a tokenizer's vocabulary keyed by normalised token.
// Tokens that normalise alike keep the largest id (mergekit's dict
// comprehension keeps the last one), which leaves all but one
// additional_special_tokens unmatched — a documented mergekit quirk.
func normalizedVocab(m *ModelFiles, log *slog.Logger) map[string]int {
	mark := marker(m, log)
	roles := specialRoles(m)
	toks := make([]string, 0, len(m.Vocab))
	for t := range m.Vocab {
		toks = append(toks, t)
	}
	slices.SortFunc(toks, func(a, b string) int { return m.Vocab[a] - m.Vocab[b] })
	out := make(map[string]int, len(toks))
	for _, t := range toks {
		out[normalize(t, mark, roles)] = m.Vocab[t]
	}
	return out
}

func normalize(tok, mark string, roles map[string]string) string {
	if rest, ok := strings.CutPrefix(tok, mark); ok {
		return wordStart + rest
	}
	if r, ok := roles[tok]; ok {
		return special + r
	}
	return tok
}

// prefixMatch is the id of the longest proper prefix of a normalised token
// (same marker) in vocab, skipping whitespace-only prefixes; special
// tokens have none.
func prefixMatch(tok string, vocab map[string]int) (int, bool) {
	if strings.HasPrefix(tok, special) {
		return 0, false
	}
	head := ""
	if strings.HasPrefix(tok, wordStart) {
		head, tok = wordStart, tok[len(wordStart):]
	}
	for i := len(tok) - 1; i > 0; i-- {
		p := tok[:i]
		if strings.TrimSpace(p) == "" {
			break
		}
		if id, ok := vocab[head+p]; ok {
			return id, true
		}
	}
	return 0, false
}

// byteMatch pairs a one-character token below U+0100 with the byte token
// <0xHH> and back.
func byteMatch(tok string, vocab map[string]int) (int, bool) {
	if r := []rune(tok); len(r) == 1 && r[0] < 256 {
		id, ok := vocab[byteToken(byte(r[0]))]
		return id, ok
	}
	if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && tok[5] == '>' {
		var b byte
		for _, c := range tok[3:5] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				b |= byte(c - 'A' + 10)
			default:
				return 0, false
			}
		}
		id, ok := vocab[string(rune(b))]
		return id, ok
	}
	return 0, false
}

func byteToken(b byte) string {
	const hex = "0123456789ABCDEF"
	return "<0x" + string(hex[b>>4]) + string(hex[b&15]) + ">"
}

// unnormalize is a normalised token's text: a word start becomes a leading
// space, a special role its role name (mergekit's unnormalize_token).
func unnormalize(key string) string {
	if rest, ok := strings.CutPrefix(key, wordStart); ok {
		return " " + rest
	}
	if rest, ok := strings.CutPrefix(key, special); ok {
		return rest
	}
	return key
}
