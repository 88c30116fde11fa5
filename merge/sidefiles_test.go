package merge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTokenizer(t *testing.T, dir, template string) {
	t.Helper()
	cfg := map[string]any{"bos_token": "<s>", "eos_token": "</s>"}
	if template != "" {
		cfg["chat_template"] = template
	}
	raw, _ := json.Marshal(cfg)
	files := map[string]string{
		"tokenizer_config.json":   string(raw),
		"tokenizer.json":          `{"version":"1.0","model":{"type":"BPE"}}`,
		"special_tokens_map.json": `{"eos_token":"</s>"}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeJSONObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSideFiles(t *testing.T) {
	dir := tinyModels(t)
	const tmplA = "{% for m in messages %}A{{ m['content'] }}{% endfor %}"
	const tmplB = "{% for m in messages %}B{{ m['content'] }}{% endfor %}"
	writeTokenizer(t, filepath.Join(dir, "base"), tmplA)
	writeTokenizer(t, filepath.Join(dir, "ft1"), tmplB)
	writeTokenizer(t, filepath.Join(dir, "ft2"), tmplB)
	models := "merge_method: linear\nparameters: {weight: 1}\nbase_model: base\nmodels: [{model: base}, {model: ft1}, {model: ft2}]\n"
	tests := []struct {
		name, extra  string
		copy         bool
		wantTemplate string // "" = no tokenizer files
	}{
		{"copied verbatim", "", true, tmplA},
		{"no copy", "", false, ""},
		{"builtin", "chat_template: chatml\n", true, builtinTemplates["chatml"]},
		{"auto takes the most common", "chat_template: auto\n", true, tmplB},
		{"literal", "chat_template: \"{{ messages[0]['content'] }} literal\"\n", true, "{{ messages[0]['content'] }} literal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := runYAML(t, dir, models+tc.extra, out, Options{SkipTokenizer: !tc.copy}); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(filepath.Join(out, "tokenizer.json"))
			if tc.wantTemplate == "" {
				if err == nil {
					t.Fatal("tokenizer written with --no-copy-tokenizer")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"tokenizer.json", "special_tokens_map.json"} {
				a, _ := os.ReadFile(filepath.Join(dir, "base", f))
				b, _ := os.ReadFile(filepath.Join(out, f))
				if string(a) != string(b) {
					t.Errorf("%s not copied verbatim", f)
				}
			}
			tc := tc
			if got := readJSON(t, filepath.Join(out, "tokenizer_config.json"))["chat_template"]; got != tc.wantTemplate {
				t.Errorf("chat_template = %q, want %q", got, tc.wantTemplate)
			}
		})
	}
}

func TestModelCardAndConfig(t *testing.T) {
	dir := tinyModels(t)
	yml := "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 1, density: 0.5}\n  - model: ft2\n    parameters: {weight: 1, density: 0.5}\nout_dtype: bfloat16\n"
	out := filepath.Join(t.TempDir(), "merged")
	if _, err := runYAML(t, dir, yml, out, Options{}); err != nil {
		t.Fatal(err)
	}
	card, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# merged\n", "[TIES](https://arxiv.org/abs/2306.01708) merge method using base as a base", "* ft1\n* ft2\n", "tags:\n- mergekit\n- merge\n", "```yaml\n" + yml + "```\n"} {
		if !strings.Contains(string(card), want) {
			t.Errorf("model card lacks %q:\n%s", want, card)
		}
	}
	if raw, _ := os.ReadFile(filepath.Join(out, "mergekit_config.yml")); string(raw) != yml {
		t.Errorf("mergekit_config.yml = %q", raw)
	}
	cfg := readJSON(t, filepath.Join(out, "config.json"))
	if cfg["torch_dtype"] != "bfloat16" || cfg["rms_norm_eps"].(json.Number).String() != "0.00001" {
		t.Errorf("config.json: torch_dtype %v rms_norm_eps %v", cfg["torch_dtype"], cfg["rms_norm_eps"])
	}
}
