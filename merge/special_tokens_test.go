package merge

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tokensurgeon"
)

// TestMergesStopAtTurnEnd: a merge that writes a ChatML template (union
// tokenizer, or the base's tokenizer extended by the template) leaves
// config.json and generation_config.json with an EOS set that holds
// <|im_end|>, lists the change, and doctor finds nothing; with
// KeepSpecialTokens the donor's ids stay as mergekit leaves them.
func TestMergesStopAtTurnEnd(t *testing.T) {
	dir := tokModels(t)
	two := "models:\n  - model: base\n    parameters: {weight: 0.5}\n  - model: chatml\n    parameters: {weight: 0.5}\n"
	eosOf := func(t *testing.T, path string) []int {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			EOS any `json:"eos_token_id"`
		}
		json.Unmarshal(b, &cfg)
		var ids []int
		switch v := cfg.EOS.(type) {
		case float64:
			ids = append(ids, int(v))
		case []any:
			for _, x := range v {
				ids = append(ids, int(x.(float64)))
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name, yml string
	}{
		{"union + chatml linear", "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: union\nchat_template: chatml\n" + two},
		{"union + chatml slerp", "merge_method: slerp\nbase_model: base\ndtype: float32\ntokenizer_source: union\nchat_template: chatml\nparameters: {t: 0.5}\n" + two},
		{"union + chatml ties", "merge_method: ties\nbase_model: base\ndtype: float32\ntokenizer_source: union\nchat_template: chatml\n" +
			"models:\n  - model: chatml\n    parameters: {weight: 1, density: 0.5}\n"},
		{"chatml model's tokenizer", "merge_method: linear\ndtype: float32\ntokenizer_source: chatml\nchat_template: chatml\n" + two},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := runYAML(t, dir, tc.yml, out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			imEnd := 65
			for _, name := range []string{"config.json", "generation_config.json"} {
				if eos := eosOf(t, filepath.Join(out, name)); !slices.Equal(eos, []int{2, imEnd}) {
					t.Errorf("%s eos_token_id = %v, want [2 %d]", name, eos, imEnd)
				}
			}
			if len(res.SpecialTokens) == 0 {
				t.Error("no change listed in the result")
			}
			card, _ := os.ReadFile(filepath.Join(out, "README.md"))
			if !strings.Contains(string(card), "### Special Tokens") {
				t.Error("the model card does not list the change")
			}
			r, err := tokensurgeon.Diagnose(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				t.Errorf("doctor: %+v", f)
			}
		})
	}
	t.Run("kept as mergekit leaves them", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		yml := "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: union\nchat_template: chatml\n" + two
		res, err := runYAML(t, dir, yml, out, Options{KeepSpecialTokens: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(out, "generation_config.json")); err == nil {
			t.Errorf("special tokens changed: %v", res.SpecialTokens)
		}
		// The user forced a model that never stops: the merge says so,
		// in the result (--json) and the model card, not only doctor.
		if !slices.ContainsFunc(res.SpecialTokens, func(s string) bool {
			return strings.HasPrefix(s, "gomerge doctor: ") && strings.Contains(s, "<|im_end|>") && strings.Contains(s, "generation stops only at")
		}) {
			t.Errorf("the unstoppable result is not reported: %v", res.SpecialTokens)
		}
		card, _ := os.ReadFile(filepath.Join(out, "README.md"))
		if !strings.Contains(string(card), "generation stops only at") {
			t.Error("the model card does not say the merge never stops")
		}
	})
	t.Run("a template token missing from the vocabulary is reported", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		yml := "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: base\nchat_template: chatml\n" + two
		res, err := runYAML(t, dir, yml, out, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(res.SpecialTokens, func(s string) bool { return strings.Contains(s, "not in the vocabulary") }) {
			t.Errorf("special tokens: %v", res.SpecialTokens)
		}
	})
}

// TestCardWithoutHubModels: local models give no empty base_model list.
func TestCardWithoutHubModels(t *testing.T) {
	dir := tokModels(t)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := runYAML(t, dir, "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n", out, Options{}); err != nil {
		t.Fatal(err)
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(card), "base_model") || !strings.HasPrefix(string(card), "---\nlibrary_name: transformers\n") {
		t.Errorf("card front matter:\n%s", card[:min(len(card), 200)])
	}
}

// TestParameterTypos: a near miss of one of the method's parameter names
// is an error with a suggestion (every one at once); a parameter some
// other method takes stays a warning, as in mergekit.
func TestParameterTypos(t *testing.T) {
	dir := tokModels(t)
	for _, tc := range []struct {
		name, yml string
		errs      []string
	}{
		{"densty", "merge_method: ties\nbase_model: base\nmodels:\n  - model: chatml\n    parameters: {weight: 1, densty: 0.5}\n",
			[]string{`config.yml:5:37: parameter "densty" is not a parameter of ties; did you mean "density"?`}},
		{"two at once", "merge_method: ties\nbase_model: base\nparameters: {normalise: true}\nmodels:\n  - model: chatml\n    parameters: {wieght: 1, density: 0.5}\n",
			[]string{`"normalise" is not a parameter of ties; did you mean "normalize"?`, `"wieght" is not a parameter of ties; did you mean "weight"?`}},
		{"weights", "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weights: 1, weight: 1}\n",
			[]string{`did you mean "weight"?`}},
		{"another method's parameter", "merge_method: slerp\nbase_model: base\nparameters: {t: 0.5, normalize: true, density: 0.3}\nmodels: [{model: base}, {model: chatml}]\n", nil},
		{"far from every name", "merge_method: linear\nparameters: {my_note: 3}\nmodels:\n  - model: base\n    parameters: {weight: 1}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Dir: dir})
			if err == nil {
				p.Close()
			}
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want %q", err, want)
				}
			}
		})
	}
}

// TestTruncationSuggestsUnion: cutting vocabulary rows off says how to
// keep them.
func TestTruncationSuggestsUnion(t *testing.T) {
	dir := tokModels(t)
	cfg, err := ParseConfig([]byte("merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: chatml\n    parameters: {weight: 1}\n"), "config.yml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(cfg, PlanOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !slices.ContainsFunc(p.Warnings, func(w string) bool {
		return strings.Contains(w, "model.embed_tokens.weight") && strings.Contains(w, "tokenizer_source: union")
	}) {
		t.Errorf("warnings: %q", p.Warnings)
	}
}

// TestPlanTokenizerOutcome: plan tells the tokenizer a merge will write
// and the special-token ids generation will use, before any weight.
func TestPlanTokenizerOutcome(t *testing.T) {
	dir := tokModels(t)
	two := "models:\n  - model: base\n    parameters: {weight: 0.5}\n  - model: chatml\n    parameters: {weight: 0.5}\n"
	for _, tc := range []struct {
		name, yml string
		opt       Options
		want      string
	}{
		{"union + chatml", "merge_method: linear\nbase_model: base\ntokenizer_source: union\nchat_template: chatml\n" + two, Options{},
			"built 66 tokens 66 rows chatml bos 1 eos [2 65] changes true"},
		{"copied base", "merge_method: linear\nbase_model: base\n" + two, Options{},
			"model base 64 tokens 64 rows none bos 1 eos [2] changes true"},
		{"no copy", "merge_method: linear\nbase_model: base\n" + two, Options{SkipTokenizer: true},
			"none 0 tokens 64 rows none bos 1 eos [2] changes false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(tc.yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPlan(cfg, PlanOptions{Dir: dir, HeadersOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			o, err := p.Tokenizer(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			bos := -1
			if o.BOS != nil {
				bos = *o.BOS
			}
			got := fmt.Sprintf("%s %d tokens %d rows %s bos %d eos %v changes %v", o.Source, o.Tokens, o.EmbeddingRows, o.ChatTemplate, bos, o.EOS, len(o.Changes) > 0)
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestAutoTemplateFitsTheVocabulary: chat_template: auto takes the most
// common input template whose tokens the written vocabulary has, so a
// merge on the base's tokenizer of a ChatML and an [INST] fine-tune gets
// the [INST] template, not a ChatML one it cannot write; with the union
// tokenizer, ChatML (listed first) stays the choice.
func TestAutoTemplateFitsTheVocabulary(t *testing.T) {
	dir := tokModels(t)
	const inst = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
		"{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"
	setTemplate := func(model, tmpl string) {
		writeJSON(t, filepath.Join(dir, model, "tokenizer_config.json"), map[string]any{
			"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "chat_template": tmpl})
	}
	setTemplate("chatml", builtinTemplates["chatml"])
	setTemplate("base", inst)
	for _, tc := range []struct{ source, want string }{{"base", inst}, {"union", builtinTemplates["chatml"]}} {
		t.Run(tc.source, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			yml := "merge_method: linear\ndtype: float32\ntokenizer_source: " + tc.source + "\nchat_template: auto\nbase_model: base\n" +
				"models:\n  - model: chatml\n    parameters: {weight: 0.5}\n  - model: base\n    parameters: {weight: 0.5}\n"
			if _, err := runYAML(t, dir, yml, out, Options{}); err != nil {
				t.Fatal(err)
			}
			if got := modelChatTemplate(out); got != strings.TrimSpace(tc.want) {
				t.Errorf("template %q, want %q", got, tc.want)
			}
			r, err := tokensurgeon.Diagnose(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				t.Errorf("doctor: %+v", f)
			}
		})
	}
}
