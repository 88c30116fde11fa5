package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestVariants runs the component variants of
// ../testdata/tokenizers/variants.json (a vendored tokenizer.json with its
// normalizer, pre-tokenizer, decoder or post-processor replaced) against
// the Rust crate's ids for the German and random test sets.
func TestVariants(t *testing.T) {
	data, err := os.ReadFile("../testdata/tokenizers/variants.json")
	if err != nil {
		t.Fatal(err)
	}
	var variants []struct {
		Name              string                     `json:"name"`
		Base              string                     `json:"base"`
		Patch             map[string]json.RawMessage `json:"patch"`
		AppendAddedTokens []json.RawMessage          `json:"append_added_tokens"`
		Unigram           *struct {
			ByteFallback bool `json:"byte_fallback"`
		} `json:"unigram"`
	}
	if err := json.Unmarshal(data, &variants); err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		t.Run(v.Name, func(t *testing.T) {
			raw, err := readMaybeGzFile(filepath.Join("../testdata/tokenizers", v.Base, "tokenizer.json.gz"))
			if err != nil {
				t.Fatal(err)
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			for k, p := range v.Patch {
				obj[k] = p
			}
			if v.AppendAddedTokens != nil {
				var added []json.RawMessage
				if err := json.Unmarshal(obj["added_tokens"], &added); err != nil {
					t.Fatal(err)
				}
				if obj["added_tokens"], err = json.Marshal(append(added, v.AppendAddedTokens...)); err != nil {
					t.Fatal(err)
				}
			}
			if v.Unigram != nil {
				if obj["model"], err = unigramFrom(obj["model"], v.Unigram.ByteFallback); err != nil {
					t.Fatal(err)
				}
			}
			patched, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := FromJSON(patched)
			if err != nil {
				t.Fatal(err)
			}
			rows := readOracle(t, "variant_"+v.Name+".jsonl")
			bad := 0
			for i, r := range rows {
				got, gotNo := tk.Encode(r.Text, true), tk.Encode(r.Text, false)
				dec, decSkip := tk.Decode(r.IDs, false), tk.Decode(r.IDs, true)
				if !slices.Equal(got, r.IDs) || !slices.Equal(gotNo, r.IDsNoSpecial) || dec != r.Decoded || decSkip != r.DecodedSkip {
					bad++
					if bad <= 5 {
						t.Errorf("row %d %q:\n ids  %v\n want %v\n no-special %v\n want       %v\n decode %q\n want   %q\n skip %q\n want %q",
							i, r.Text, got, r.IDs, gotNo, r.IDsNoSpecial, dec, r.Decoded, decSkip, r.DecodedSkip)
					}
				}
			}
			t.Logf("variant %s: %d/%d rows agree", v.Name, len(rows)-bad, len(rows))
		})
	}
}

// unigramFrom is tools/tokoracle/variants.js's unigramFrom: a Unigram model
// over a BPE model's pieces with scores -1 - (id mod 997)/8.
func unigramFrom(raw json.RawMessage, byteFallback bool) (json.RawMessage, error) {
	var b struct {
		Vocab map[string]int `json:"vocab"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	vocab := make([][2]any, len(b.Vocab))
	for tok, id := range b.Vocab {
		vocab[id] = [2]any{tok, -1 - float64(id%997)/8}
	}
	return json.Marshal(map[string]any{"type": "Unigram", "unk_id": b.Vocab["<unk>"], "vocab": vocab, "byte_fallback": byteFallback})
}
