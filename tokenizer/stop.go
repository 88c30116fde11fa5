package tokenizer

import "slices"

// StopIDs are the token ids that end a generation, as transformers'
// generate() collects them: generation_config.json's eos_token_id (an id
// or a list), config.json's, and the tokenizer's eos_token, in that order
// without repeats. Models whose chat turns end in a token other than the
// tokenizer's EOS (Llama-3's <|eot_id|>, 128009, beside <|end_of_text|>,
// 128001) list it in generation_config.json.
func (t *Tokenizer) StopIDs() []int {
	var out []int
	add := func(ids ...int) {
		for _, id := range ids {
			if id >= 0 && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	if g := t.Config.Generation; g != nil {
		add(g.EOS...)
	}
	if m := t.Config.Model; m != nil {
		add(m.EOS...)
	}
	if e := t.Special().EOS; e.Found {
		add(e.ID)
	}
	return out
}
