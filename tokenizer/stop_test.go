package tokenizer

import (
	"slices"
	"testing"
)

// TestStopIDsPrecedence checks that the stop ids come from one source, as
// transformers' generate() takes them: generation_config.json over the
// model's config.json over the tokenizer's eos_token (Mistral's </s>, 2).
func TestStopIDsPrecedence(t *testing.T) {
	tk, err := Load("../testdata/tokenizers/mistral-7b-v0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		gen, model []int
		modelEOS   []int
		want       []int
	}{
		{"tokenizer only", nil, nil, nil, []int{2}},
		{"config.json", nil, []int{32000}, nil, []int{32000}},
		{"generation_config over config.json", []int{128001, 128009}, []int{128001}, nil, []int{128001, 128009}},
		{"generation_config without eos", []int{}, []int{7}, nil, []int{7}},
		{"model's config.json over the tokenizer dir's", nil, []int{7}, []int{9, 9, -1}, []int{9}},
		{"generation_config over the model's", []int{5}, nil, []int{9}, []int{5}},
	} {
		tk.Config.Generation, tk.Config.Model = nil, nil
		if tc.gen != nil {
			tk.Config.Generation = &IDConfig{EOS: tc.gen}
		}
		if tc.model != nil {
			tk.Config.Model = &IDConfig{EOS: tc.model}
		}
		if got := tk.StopIDsFor(tc.modelEOS); !slices.Equal(got, tc.want) {
			t.Errorf("%s: StopIDsFor(%v) = %v, want %v", tc.name, tc.modelEOS, got, tc.want)
		}
	}
}

// TestAnyStopIDs checks the union gomerge chat stops on.
func TestAnyStopIDs(t *testing.T) {
	tk, err := Load("../testdata/tokenizers/mistral-7b-v0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name            string
		gen, model, eos []int
		want            []int
	}{
		{"tokenizer only", nil, nil, nil, []int{2}},
		{"all three", []int{32000}, []int{2, 7}, nil, []int{32000, 2, 7}},
		{"Llama-3 fixed", []int{128001, 128009}, []int{128001}, nil, []int{128001, 128009, 2}},
		{"model's config.json replaces the tokenizer dir's", nil, []int{7}, []int{9, 9, -1}, []int{9, 2}},
	} {
		tk.Config.Generation, tk.Config.Model = nil, nil
		if tc.gen != nil {
			tk.Config.Generation = &IDConfig{EOS: tc.gen}
		}
		if tc.model != nil {
			tk.Config.Model = &IDConfig{EOS: tc.model}
		}
		if got := tk.AnyStopIDsFor(tc.eos); !slices.Equal(got, tc.want) {
			t.Errorf("%s: AnyStopIDsFor(%v) = %v, want %v", tc.name, tc.eos, got, tc.want)
		}
	}
}
