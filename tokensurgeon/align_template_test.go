package tokensurgeon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

const instTemplate = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}{{ '[INST] ' + m['content'] + ' [/INST]' }}" +
	"{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"

// instModel writes an [INST]-template model of 66 rows (padded, as many
// fine-tunes are) whose tokenizer
// has no ChatML tokens.
func instModel(t *testing.T, dir string) {
	t.Helper()
	chatModel(t, dir, 66, func(cfg, gen, tc map[string]any) {
		cfg["eos_token_id"], gen["eos_token_id"] = 2, 2
		tc["eos_token"], tc["chat_template"] = "</s>", instTemplate
	})
	vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for i := 3; i < 64; i++ {
		vocab[fmt.Sprintf("_tok_%d", i)] = i
	}
	added := []tokfile.AddedToken{{ID: 0, Content: "<unk>", Special: true}, {ID: 1, Content: "<s>", Special: true},
		{ID: 2, Content: "</s>", Special: true}}
	write(t, filepath.Join(dir, "tokenizer.json"), map[string]any{"version": "1.0", "added_tokens": added,
		"post_processor": nil, "model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}}})
}

// TestAlignNeverDropsAChatFormat: taking a donor's tokenizer never loses
// the model's tokens or, unasked, its chat template (issue 17: doctor's
// fix once turned a ChatML model into an [INST] one without a word).
func TestAlignNeverDropsAChatFormat(t *testing.T) {
	root := t.TempDir()
	chat, inst := filepath.Join(root, "chatml"), filepath.Join(root, "inst")
	chatModel(t, chat, 66, nil)
	instModel(t, inst)
	out := func() string { return filepath.Join(t.TempDir(), "out") }

	if _, err := AlignSpecial(chat, inst, out(), AlignOptions{TakeTemplateFrom: "donor"}); err == nil ||
		!strings.Contains(err.Error(), "lacks 2 of") || !strings.Contains(err.Error(), "<|im_end|>") {
		t.Errorf("ChatML model onto an [INST] tokenizer: err = %v", err)
	}
	if _, err := AlignSpecial(inst, chat, out(), AlignOptions{}); err == nil || !strings.Contains(err.Error(), "--take-template-from") ||
		!errors.Is(err, ErrRefused) {
		t.Errorf("templates differ, no choice: err = %v", err)
	}
	if _, err := AlignSpecial(chat, inst, out(), AlignOptions{TakeTemplateFrom: "donor"}); !errors.Is(err, ErrRefused) {
		t.Errorf("a donor lacking the model's tokens: err = %v, not ErrRefused (gomerge exits 2)", err)
	}
	if _, err := AlignSpecial(inst, chat, out(), AlignOptions{TakeTemplateFrom: "somewhere"}); err == nil {
		t.Error("a bad --take-template-from was accepted")
	}
	for _, tc := range []struct {
		from, template string
		eos            string
	}{
		// The donor's tokenizer makes <|im_end|> the eos_token; the
		// model's weights still end answers with </s> (2), so generation
		// stops at both. Keeping the model's [INST] template keeps the
		// eos_token it writes, </s>: the donor's <|im_end|> would end its
		// turns with a token the model never learned to emit.
		{"donor", chatml, "[65 2]"},
		{"model", instTemplate, "2"},
	} {
		t.Run("take "+tc.from, func(t *testing.T) {
			o := out()
			res, err := AlignSpecial(inst, chat, o, AlignOptions{TakeTemplateFrom: tc.from})
			if err != nil {
				t.Fatal(err)
			}
			m, err := LoadModelFiles(o)
			if err != nil {
				t.Fatal(err)
			}
			if m.ChatTemplate != tc.template {
				t.Errorf("template %q, want the %s's", m.ChatTemplate, tc.from)
			}
			for _, f := range []map[string]any{m.Generation, m.Config} {
				if got := fmt.Sprint(f["eos_token_id"]); got != tc.eos {
					t.Errorf("eos %s, want %s", got, tc.eos)
				}
			}
			if tc.from == "model" && m.TokenOf("eos") != "</s>" {
				t.Errorf("eos_token %q: the kept [INST] template would end turns with the donor's", m.TokenOf("eos"))
			}
			r, err := Diagnose(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				t.Errorf("doctor after the fix: %+v (changes %v)", f, res.Changes)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(inst, "tokenizer_config.json")); !strings.Contains(string(b), "[INST]") {
		t.Error("the input was changed")
	}
}

// TestDoctorSuggestsAFixThatWorks: doctor's fix for special tokens that
// differ names --align-special (with --take-template-from when the
// templates differ) only where AlignSpecial accepts that donor, and
// otherwise a union merge (issue 17: it once suggested a command that is
// refused).
func TestDoctorSuggestsAFixThatWorks(t *testing.T) {
	root := t.TempDir()
	chat, inst := filepath.Join(root, "chatml"), filepath.Join(root, "inst")
	chatModel(t, chat, 66, nil)
	instModel(t, inst)
	for _, tc := range []struct {
		ref, model string
		align      bool
	}{{chat, inst, true}, {inst, chat, false}} {
		r, err := Diagnose(tc.ref, tc.model)
		if err != nil {
			t.Fatal(err)
		}
		var fix string
		for _, f := range r.Findings {
			if f.Check == "mismatch-eos" {
				fix = f.Fix
			}
		}
		if fix == "" {
			t.Fatalf("%s vs %s: no mismatch-eos finding: %+v", tc.ref, tc.model, r.Findings)
		}
		_, err = AlignSpecial(tc.model, tc.ref, filepath.Join(t.TempDir(), "out"), AlignOptions{TakeTemplateFrom: "donor"})
		switch {
		case tc.align && (!strings.Contains(fix, "--align-special "+tc.model+" "+tc.ref+" OUT --take-template-from") || err != nil):
			t.Errorf("fix %q; AlignSpecial: %v", fix, err)
		case !tc.align && (strings.Contains(fix, "(gomerge tokensurgeon --align-special") || !strings.Contains(fix, "tokenizer_source: union") || err == nil):
			t.Errorf("fix %q suggests a refused command (AlignSpecial: %v)", fix, err)
		}
	}
}
