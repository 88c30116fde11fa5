package tokensurgeon

import (
	"fmt"
	"path/filepath"
	"slices"
)

// AlignFiles makes the special-token ids of the model directory dir agree
// with its tokenizer, in place, touching no weight: config.json and
// generation_config.json (created when missing) get the tokenizer's
// bos/pad ids and an EOS set holding the tokenizer's EOS and the chat
// template's end-of-turn token, so that generation stops where the
// template ends a turn. It returns one line per change, and warnings for
// what it cannot fix (a template whose end-of-turn token is not in the
// vocabulary). A directory without a tokenizer is left alone.
func AlignFiles(dir string) (changes, warnings []string, err error) {
	return alignFiles(dir, nil)
}

// alignFiles is AlignFiles with more ids for the EOS set: those a model's
// weights were trained to end with when its tokenizer is replaced.
func alignFiles(dir string, keepEOS []int) (changes, warnings []string, err error) {
	m, err := LoadModelFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	if m.Tokenizer == nil {
		return nil, nil, nil
	}
	ids := map[string]int{}
	for _, role := range []string{"bos", "eos", "pad"} {
		if id, ok := m.Vocab[m.TokenOf(role)]; ok {
			ids[role] = id
		}
	}
	eos := []int{}
	if id, ok := ids["eos"]; ok {
		eos = append(eos, id)
	}
	if end := m.turnEndToken(); end != "" {
		if id, ok := m.Vocab[end]; !ok {
			warnings = append(warnings, fmt.Sprintf("the chat template ends turns with %s, which is not in the vocabulary: "+
				"generation will not stop at the end of a turn (choose a template this vocabulary has the tokens of, or take them from a model that has them: "+
				"tokenizer_source: union, or a tokenizer: tokens entry)", end))
		} else if !slices.Contains(eos, id) {
			eos = append(eos, id)
		}
	}
	for _, id := range keepEOS {
		if !slices.Contains(eos, id) {
			eos = append(eos, id)
		}
	}
	for _, name := range []string{"config.json", "generation_config.json"} {
		c, err := rewriteIDs(filepath.Join(dir, name), ids, eos, name == "generation_config.json")
		if err != nil {
			return changes, warnings, err
		}
		changes = append(changes, c...)
	}
	return changes, warnings, nil
}
