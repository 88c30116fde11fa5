package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gomerge/gomerge/chat"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

// storiesDir converts the vendored stories260K checkpoint and its
// tokenizer into a model directory (no chat template: a base model).
func storiesDir(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "stories")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"convert-llama2c", "../../testdata/stories260K/stories260K.bin", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("convert-llama2c: exit %d: %s", code, stderr.String())
	}
	return out
}

func chatJSON(t *testing.T, stdin string, args ...string) chatTurn {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runChat(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr); code != exitOK {
		t.Fatalf("chat %v: exit %d: %s", args, code, stderr.String())
	}
	var turn chatTurn
	if err := json.Unmarshal(stdout.Bytes(), &turn); err != nil {
		t.Fatalf("chat --json output %q: %v", stdout.String(), err)
	}
	return turn
}

// TestChatGreedyEqualsGenerate checks that one-shot greedy chat on a model
// without a chat template is model.Generate on the prompt with BOS, and
// that from BOS alone it prints llama2.c's own greedy text.
func TestChatGreedyEqualsGenerate(t *testing.T) {
	dir := storiesDir(t)
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, prompt := range []string{"Once upon a time", "Lily and Ben went to the park."} {
		ids := tok.Encode(prompt, true)
		if ids[0] != m.BOS() {
			t.Fatalf("prompt ids %v do not start with BOS %d", ids, m.BOS())
		}
		want, err := m.Generate(ids, 60, tok.StopIDs()...)
		if err != nil {
			t.Fatal(err)
		}
		for run := range 2 {
			turn := chatJSON(t, "", dir, "--prompt", prompt, "--temperature", "0", "--max-new-tokens", "60", "--json")
			if !slices.Equal(turn.Tokens, want) {
				t.Fatalf("run %d: chat tokens %v, Generate %v", run, turn.Tokens, want)
			}
			if turn.Text != tok.Decode(want, true) || turn.PromptTokens != len(ids) || turn.Template {
				t.Errorf("run %d: %+v", run, turn)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runChat(context.Background(), []string{dir, "--temperature", "0", "--max-new-tokens", "200"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	expected, err := os.ReadFile("../../testdata/stories260K/expected_greedy_200.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(stdout.String()) != strings.TrimSpace(string(expected)) {
		t.Errorf("chat from BOS:\n%s\nllama2.c:\n%s", stdout.String(), expected)
	}
}

// TestChatSampledIsSeeded checks that sampling repeats for a seed.
func TestChatSampledIsSeeded(t *testing.T) {
	dir := storiesDir(t)
	args := []string{dir, "--prompt", "Once", "--temperature", "0.9", "--top-p", "0.9", "--top-k", "40", "--seed", "7", "--max-new-tokens", "30", "--json"}
	a, b := chatJSON(t, "", args...), chatJSON(t, "", args...)
	if !slices.Equal(a.Tokens, b.Tokens) || len(a.Tokens) == 0 {
		t.Fatalf("seeded runs differ: %v vs %v", a.Tokens, b.Tokens)
	}
}

// chatTemplateDir is stories260K with a chat template and a
// generation_config.json whose eos list adds an id the tokenizer does not
// call EOS.
func chatTemplateDir(t *testing.T) string {
	dir := storiesDir(t)
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	raw, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["chat_template"] = "{{ bos_token }}{% for m in messages %}{{ m.role | upper }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
	raw, _ = json.Marshal(cfg)
	os.WriteFile(cfgPath, raw, 0o644)
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": [2, 13]}`), 0o644)
	return dir
}

// TestChatTemplateAndCache checks that a templated prompt is the rendered
// conversation, that the stop set holds generation_config's ids, and that
// a second turn reuses the first's key/value cache and answers as a fresh
// session would.
func TestChatTemplateAndCache(t *testing.T) {
	dir := chatTemplateDir(t)
	b, err := openChatBackend(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := b.Engine(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.stop, 13) || !slices.Contains(e.stop, 2) {
		t.Fatalf("stop ids %v, want 2 and 13", e.stop)
	}
	msgs := []chat.Message{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Tell a story."}}
	ids, err := e.Prompt(msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := e.tok.Encode("<s>SYSTEM: Be kind.\nUSER: Tell a story.\nASSISTANT:", false)
	if !slices.Equal(ids, want) {
		t.Fatalf("prompt ids %v, want %v", ids, want)
	}
	// The template prints bos_token; the tokenizer.model tokenizer must
	// read it as the BOS id, once, as transformers does.
	if ids[0] != 1 || ids[1] == 1 {
		t.Fatalf("prompt ids %v: want one BOS (1) from the template's <s>", ids)
	}
	opt := genOptions{maxNew: 20}
	first, err := e.Answer(context.Background(), msgs, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.CachedTokens != 0 || !first.Template {
		t.Fatalf("first turn: %+v", first)
	}
	msgs = append(msgs, chat.Message{Role: "assistant", Content: first.Text}, chat.Message{Role: "user", Content: "Again."})
	second, err := e.Answer(context.Background(), msgs, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.CachedTokens < len(ids) {
		t.Errorf("second turn reused %d tokens, want at least the first prompt's %d", second.CachedTokens, len(ids))
	}
	fresh, err := newChatEngine(e.m, dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := fresh.Answer(context.Background(), msgs, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Tokens, second.Tokens) {
		t.Errorf("cached turn %v, fresh session %v", second.Tokens, again.Tokens)
	}
}

// TestTextStreamUTF8 feeds byte-fallback tokens one at a time: no piece
// may hold a broken character, and the pieces add up to the decoded text.
func TestTextStreamUTF8(t *testing.T) {
	dir := storiesDir(t)
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	text := "Grüß Gott, schöne Grüße – 日本 🙂!"
	ids := tok.Encode(text, false)
	bytesTokens := 0
	for _, s := range tok.Tokens(ids) {
		if strings.HasPrefix(s, "<0x") {
			bytesTokens++
		}
	}
	if bytesTokens < 4 {
		t.Fatalf("only %d byte-fallback tokens in %v: the test needs split characters", bytesTokens, tok.Tokens(ids))
	}
	s := textStream{tok: tok}
	var got strings.Builder
	for _, id := range ids {
		piece := s.add(id)
		if !utf8.ValidString(piece) || strings.ContainsRune(piece, utf8.RuneError) {
			t.Fatalf("piece %q holds a broken character", piece)
		}
		got.WriteString(piece)
	}
	got.WriteString(s.flush(tok.Decode(ids, true)))
	if got.String() != tok.Decode(ids, true) {
		t.Errorf("streamed %q, decoded %q", got.String(), tok.Decode(ids, true))
	}
}

// TestTextStreamIncremental streams German, emoji and CJK text and
// random ids through SentencePiece (byte fallback), Mistral's
// tokenizer.json and Qwen3's byte-level BPE: the pieces must add up to
// Decode of all ids, hold no broken character, and the work must stay
// linear (each id decoded a bounded number of times, not once per later
// token).
func TestTextStreamIncremental(t *testing.T) {
	dirs := map[string]string{"stories260K": storiesDir(t), "mistral": "../../testdata/tokenizers/mistral-7b-v0.1", "qwen3": "../../testdata/tokenizers/qwen3"}
	texts := []string{
		"Grüß Gott, schöne Grüße – 日本 🙂! Die größte Stadt Österreichs ist Wien.\n\n  Zweite Zeile .",
		strings.Repeat("Once upon a time, there was a little girl named Lily. ", 40),
	}
	for name, dir := range dirs {
		tok, err := tokenizer.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		var seqs [][]int
		for _, text := range texts {
			seqs = append(seqs, tok.Encode(text, false))
		}
		// Random ids: special tokens, stray byte tokens, anything.
		r := uint64(1)
		random := make([]int, 600)
		for i := range random {
			r = r*6364136223846793005 + 1442695040888963407
			random[i] = int(r>>33) % tok.VocabSize()
		}
		seqs = append(seqs, random)
		for i, ids := range seqs {
			s := textStream{tok: tok}
			var got strings.Builder
			for _, id := range ids {
				piece := s.add(id)
				if i < len(texts) && strings.ContainsRune(piece, utf8.RuneError) {
					t.Errorf("%s: piece %q holds a broken character", name, piece)
				}
				got.WriteString(piece)
			}
			want := tok.Decode(ids, true)
			got.WriteString(s.flush(want))
			if i == len(texts) {
				// Invalid byte sequences: no stall, no quadratic work.
				if got.Len() < len(want)/2 {
					t.Errorf("%s random ids: streamed %d bytes of %d", name, got.Len(), len(want))
				}
			} else if got.String() != want {
				t.Errorf("%s seq %d: streamed\n%q\ndecoded\n%q", name, i, got.String(), want)
			}
			t.Logf("%s seq %d: %d ids, %d decoded", name, i, len(ids), s.decoded)
			if s.decoded > 16*len(ids) {
				t.Errorf("%s seq %d: %d ids decoded for %d generated: not incremental", name, i, s.decoded, len(ids))
			}
		}
	}
}

func TestChatUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"a", "b"}, {"a", "--top-p", "2"}, {"a", "--temperature", "-1"}} {
		var stdout, stderr bytes.Buffer
		if code := runChat(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestChatErrorsAndHelp checks that a directory that is no model is an
// error of chat (not of eval, whose loader chat shares), and that the
// help names every kind of MODEL, Kraken directories included.
func TestChatErrorsAndHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir()
	if code := runChat(context.Background(), []string{dir, "--prompt", "x"}, strings.NewReader(""), &stdout, &stderr); code != exitFailed {
		t.Errorf("empty dir: exit %d, want %d", code, exitFailed)
	}
	if msg := stderr.String(); !strings.Contains(msg, "chat "+dir) || strings.Contains(msg, "eval ") {
		t.Errorf("empty dir: %q, want an error of chat naming %s", msg, dir)
	}
	stderr.Reset()
	runChat(context.Background(), []string{"--help"}, strings.NewReader(""), &stdout, &stderr)
	for _, want := range []string{"Kraken directory", "merge", "generation_config.json", "--json"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestChatMergeConfigAndMoE talks to a merge config merged in memory and
// to a MoE built by gomerge moe, both made of two copies of stories260K:
// each must answer as stories260K itself (a linear merge of equal models
// is that model; a MoE of equal experts whose weights sum to 1 is too).
func TestChatMergeConfigAndMoE(t *testing.T) {
	a := storiesDir(t)
	b := filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(b, 0o755)
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(a, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(b, f), data, 0o644)
	}
	args := []string{"--prompt", "Once upon a time", "--temperature", "0", "--max-new-tokens", "40", "--json"}
	want := chatJSON(t, "", append([]string{a}, args...)...)
	tmp := t.TempDir()
	lin := filepath.Join(tmp, "linear.yml")
	os.WriteFile(lin, []byte("merge_method: linear\ndtype: float32\nmodels:\n  - model: "+a+"\n    parameters: {weight: 0.5}\n  - model: "+b+"\n    parameters: {weight: 0.5}\n"), 0o644)
	moeCfg := filepath.Join(tmp, "moe.yml")
	os.WriteFile(moeCfg, []byte("base_model: "+a+"\ngate_mode: random\ndtype: float32\nexperts:\n  - source_model: "+a+"\n    positive_prompts: [\"a\"]\n  - source_model: "+b+"\n    positive_prompts: [\"b\"]\n"), 0o644)
	moeDir := filepath.Join(tmp, "moe")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"moe", moeCfg, moeDir, "--random-seed", "1", "--quiet"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("moe: exit %d: %s", code, stderr.String())
	}
	for _, m := range []string{lin, moeDir} {
		got := chatJSON(t, "", append([]string{m}, args...)...)
		if !slices.Equal(got.Tokens, want.Tokens) || got.Text != want.Text {
			t.Errorf("%s: %q %v, stories260K %q %v", m, got.Text, got.Tokens, want.Text, want.Tokens)
		}
	}
}

// TestChatStdinIsThePrompt checks that stdin (not a terminal) is the
// one-shot prompt, as --prompt would give it.
func TestChatStdinIsThePrompt(t *testing.T) {
	dir := storiesDir(t)
	args := []string{dir, "--temperature", "0", "--max-new-tokens", "20", "--json"}
	a := chatJSON(t, "Lily and Ben\n", args...)
	b := chatJSON(t, "", append(args, "--prompt", "Lily and Ben")...)
	if !slices.Equal(a.Tokens, b.Tokens) || a.PromptTokens != b.PromptTokens || a.StopReason != "length" {
		t.Errorf("stdin %+v, --prompt %+v", a, b)
	}
}

// TestChatStopsOnAnyEOS checks that chat stops on an EOS id that only
// config.json names when generation_config.json names another (the
// Leo-Mistral/DiscoLM case): Python's generate() would read only the
// latter, chat stops on either.
func TestChatStopsOnAnyEOS(t *testing.T) {
	dir := storiesDir(t)
	free := chatJSON(t, "", dir, "--prompt", "Once upon a time", "--temperature", "0", "--max-new-tokens", "8", "--json")
	if len(free.Tokens) < 3 {
		t.Fatalf("greedy answer %v too short", free.Tokens)
	}
	stop := free.Tokens[2]
	cfgPath := filepath.Join(dir, "config.json")
	var cfg map[string]any
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["eos_token_id"] = stop
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	other := 511
	if stop == other {
		other = 510
	}
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(fmt.Sprintf(`{"eos_token_id": [%d]}`, other)), 0o644); err != nil {
		t.Fatal(err)
	}
	got := chatJSON(t, "", dir, "--prompt", "Once upon a time", "--temperature", "0", "--max-new-tokens", "8", "--json")
	if got.StopReason != "eos" || !slices.Equal(got.Tokens, free.Tokens[:3]) {
		t.Errorf("config.json eos %d, generation_config [%d]: tokens %v (%s), want %v (eos)", stop, other, got.Tokens, got.StopReason, free.Tokens[:3])
	}
}

// TestChatPromptLongerThanContext checks that a prompt the model cannot
// hold is a usage error (exit 2) whose message gives the prompt's token
// count and the context length, not a failure (exit 1).
func TestChatPromptLongerThanContext(t *testing.T) {
	dir := storiesDir(t)
	prompt := strings.Repeat("Once upon a time ", 400)
	var stdout, stderr bytes.Buffer
	code := runChat(context.Background(), []string{dir, "--prompt", prompt, "--temperature", "0"}, strings.NewReader(""), &stdout, &stderr)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d: %s", code, exitUsage, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "the prompt has ") || !strings.Contains(msg, "the model's context is ") {
		t.Errorf("message %q lacks the token count or the context length", msg)
	}
}
