package tokenizer

import "slices"

// StopIDs are the token ids that end a generation, chosen as
// transformers' generate() chooses them: generation_config.json's
// eos_token_id (an id or a list) when it lists any, else config.json's,
// else the tokenizer's eos_token. The sources are not merged: generate()
// reads the model's GenerationConfig, which comes from
// generation_config.json when there is one and from config.json
// otherwise, and never the tokenizer (the last fallback is for
// directories that name no EOS id at all). Models whose chat turns end in
// a token other than the tokenizer's EOS (Llama-3's <|eot_id|>, 128009,
// beside <|end_of_text|>, 128001) list it in generation_config.json; a
// model that does not stops where Python's would not either, which
// `gomerge doctor` reports. StopIDs is StopIDsFor(nil).
func (t *Tokenizer) StopIDs() []int { return t.StopIDsFor(nil) }

// StopIDsFor is StopIDs for a model whose own config.json EOS ids,
// modelEOS, may differ from the config.json beside the tokenizer (a merge
// in memory, an expert whose tokenizer lives elsewhere): they take the
// place of config.json's.
func (t *Tokenizer) StopIDsFor(modelEOS []int) []int {
	if g := t.Config.Generation; g != nil {
		if ids := appendIDs(nil, g.EOS); len(ids) > 0 {
			return ids
		}
	}
	if ids := appendIDs(nil, modelEOS); len(ids) > 0 {
		return ids
	}
	if m := t.Config.Model; m != nil {
		if ids := appendIDs(nil, m.EOS); len(ids) > 0 {
			return ids
		}
	}
	if e := t.Special().EOS; e.Found && e.ID >= 0 {
		return []int{e.ID}
	}
	return nil
}

// AnyStopIDsFor is the union of every EOS id a model names:
// generation_config.json's, its config.json's (modelEOS, or the
// config.json beside the tokenizer when modelEOS is empty) and the
// tokenizer's eos_token, in that order without duplicates. gomerge chat
// stops on any of them, so that a model whose sources disagree (eos 2 in
// config.json, <|im_end|> 32000 in generation_config.json) still ends its
// turns; StopIDsFor is what Python's generate() would stop on, and what
// doctor checks.
func (t *Tokenizer) AnyStopIDsFor(modelEOS []int) []int {
	var out []int
	if g := t.Config.Generation; g != nil {
		out = appendIDs(out, g.EOS)
	}
	if len(modelEOS) > 0 {
		out = appendIDs(out, modelEOS)
	} else if m := t.Config.Model; m != nil {
		out = appendIDs(out, m.EOS)
	}
	if e := t.Special().EOS; e.Found && e.ID >= 0 {
		out = appendIDs(out, []int{e.ID})
	}
	return out
}

// appendIDs appends the valid (non-negative) ids not in out yet.
func appendIDs(out, ids []int) []int {
	for _, id := range ids {
		if id >= 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
