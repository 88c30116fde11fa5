package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

// krakenPrompts makes n prompts of each of two clearly different kinds:
// children's stories (expert1) and SQL (expert2).
func krakenPrompts(n int, seed uint64) []map[string]string {
	rng := rand.New(rand.NewPCG(seed, 5))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var out []map[string]string
	for range n {
		out = append(out,
			map[string]string{"label": "expert1", "text": fmt.Sprintf("Once upon a time there was a %s %s. It liked to %s.",
				pick("little", "big", "happy"), pick("girl", "dog", "bird"), pick("play", "run", "sing"))},
			map[string]string{"label": "expert2", "text": fmt.Sprintf("SELECT %s FROM %s WHERE id = %d;",
				pick("name", "price", "qty"), pick("users", "orders"), rng.IntN(1000))})
	}
	return out
}

// TestKrakenCLI trains a router on stories260K, builds a Kraken of two
// stories260K-based experts and routes held-out prompts of each class
// through `gomerge kraken route --json`.
func TestKrakenCLI(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cmd := func(args ...string) []byte {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(ctx, args, &stdout, &stderr); code != exitOK {
			t.Fatalf("gomerge %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.Bytes()
	}
	base := filepath.Join(dir, "stories")
	cmd("convert-llama2c", filepath.Join(rootDir, "testdata/stories260K/stories260K.bin"), base)
	scaled := filepath.Join(dir, "scaled")
	scale := filepath.Join(dir, "scale.yml")
	os.WriteFile(scale, fmt.Appendf(nil, "merge_method: linear\nparameters: {normalize: false}\nmodels:\n  - model: %s\n    parameters: {weight: 0.8}\n", base), 0o644)
	cmd(scale, scaled, "--quiet")

	var data bytes.Buffer
	for _, p := range krakenPrompts(20, 1) {
		b, _ := json.Marshal(p)
		data.Write(append(b, '\n'))
	}
	os.WriteFile(filepath.Join(dir, "data.jsonl"), data.Bytes(), 0o644)
	var rep struct {
		Accuracy *float64 `json:"held_out_accuracy"`
		HeldOut  int      `json:"held_out"`
		Labels   []string `json:"labels"`
	}
	out := cmd("kraken", "train-router", "--base", base, "--data", filepath.Join(dir, "data.jsonl"), "--out", filepath.Join(dir, "router"),
		"--holdout", "0.25", "--json")
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Accuracy == nil || *rep.Accuracy < 0.95 || rep.HeldOut != 10 || !slices.Equal(rep.Labels, []string{"expert1", "expert2"}) {
		t.Fatalf("report: %s", out)
	}
	// The same data as one file per label, in a directory: the same
	// router.
	split := filepath.Join(dir, "split")
	os.Mkdir(split, 0o755)
	for _, label := range []string{"expert1", "expert2"} {
		var b bytes.Buffer
		for _, line := range strings.SplitAfter(data.String(), "\n") {
			if strings.Contains(line, `"label":"`+label+`"`) {
				b.WriteString(line)
			}
		}
		os.WriteFile(filepath.Join(split, label+".jsonl"), b.Bytes(), 0o644)
	}
	cmd("kraken", "train-router", "--base", base, "--data", split, "--out", filepath.Join(dir, "router2"), "--holdout", "0.25")
	w1, _ := os.ReadFile(filepath.Join(dir, "router", "model.safetensors"))
	w2, _ := os.ReadFile(filepath.Join(dir, "router2", "model.safetensors"))
	if len(w1) == 0 || !bytes.Equal(w1, w2) {
		t.Error("a directory of per-label files trains another router than the one file")
	}
	text := cmd("kraken", "train-router", "--base", base, "--data", filepath.Join(dir, "data.jsonl"), "--out", filepath.Join(dir, "router"),
		"--holdout", "0.25")
	if !strings.Contains(string(text), "held-out accuracy  1.0000") || !strings.Contains(string(text), "confusion") {
		t.Errorf("text report:\n%s", text)
	}

	cfg := `{"models": {"expert1": "stories", "expert2": "scaled"}, "tokenizers": {"expert1": "stories", "expert2": "scaled"},
  "quantization": {"expert1": null, "expert2": "8bit"}, "class_indices": {"expert1": 0, "expert2": 1},
  "router": "router", "model_type": "kraken"}`
	os.WriteFile(filepath.Join(dir, "kraken.json"), []byte(cfg), 0o644)
	kdir := filepath.Join(dir, "kraken")
	var res struct {
		Experts  map[string]string `json:"experts"`
		Warnings []string          `json:"warnings"`
	}
	out = cmd("kraken", filepath.Join(dir, "kraken.json"), kdir, "--json", "--copy-experts")
	if err := json.Unmarshal(out, &res); err != nil || res.Experts["expert2"] != "experts/expert2" ||
		!strings.Contains(strings.Join(res.Warnings, "\n"), `quantization.expert2 is "8bit"`) {
		t.Fatalf("build: %v %s", err, out)
	}

	tok, err := tokenizer.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	models := map[string]*model.Model{}
	for key, d := range map[string]string{"expert1": base, "expert2": scaled} {
		if models[key], err = model.Open(d, model.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range krakenPrompts(3, 99) {
		var ans struct {
			Expert string `json:"expert"`
			Text   string `json:"text"`
			Tokens []int  `json:"tokens"`
		}
		out := cmd("kraken", "route", kdir, "--prompt", p["text"], "--max-new-tokens", "8", "--json")
		if err := json.Unmarshal(out, &ans); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if ans.Expert != p["label"] {
			t.Errorf("%q answered by %s, want %s", p["text"], ans.Expert, p["label"])
			continue
		}
		want, _ := models[ans.Expert].Generate(tok.Encode(p["text"], true), 8, 2)
		if !slices.Equal(ans.Tokens, want) || ans.Text != tok.Decode(want, true) {
			t.Errorf("%s answered %v %q, its greedy generation is %v", ans.Expert, ans.Tokens, ans.Text, want)
		}
		// gomerge chat on the Kraken: the same expert, the same answer.
		var turn struct {
			Expert string `json:"expert"`
			Text   string `json:"text"`
			Tokens []int  `json:"tokens"`
		}
		for _, dir := range []string{kdir, filepath.Join(kdir, "kraken_model")} {
			out = cmd("chat", dir, "--prompt", p["text"], "--temperature", "0", "--max-new-tokens", "8", "--json")
			if err := json.Unmarshal(out, &turn); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if turn.Expert != p["label"] || !slices.Equal(turn.Tokens, want) || turn.Text != ans.Text {
				t.Errorf("gomerge chat %s: expert %s %v %q, want %s %v %q", dir, turn.Expert, turn.Tokens, turn.Text, p["label"], want, ans.Text)
			}
		}
		// Without --json the answer is stdout and the expert is named
		// on stderr.
		var stdout, stderr bytes.Buffer
		if code := run(ctx, []string{"chat", kdir, "--prompt", p["text"], "--temperature", "0", "--max-new-tokens", "8"}, &stdout, &stderr); code != exitOK ||
			stdout.String() != ans.Text+"\n" || !strings.Contains(stderr.String(), "["+p["label"]+"]") {
			t.Errorf("gomerge chat %s (text): exit %d, stdout %q, stderr %q; want %q and [%s]", kdir, code, stdout.String(), stderr.String(), ans.Text, p["label"])
		}
	}
}

// A YAML config with the same fields builds the same Kraken config.
func TestKrakenCLIYAML(t *testing.T) {
	dir := t.TempDir()
	yml := "models: {expert1: a, expert2: b}\ntokenizers: {expert1: a, expert2: b}\nquantization: null\n" +
		"class_indices: {LABEL_0: 0, LABEL_1: 1, LABEL_2: 7}\nrouter: r\nmodel_type: kraken\n"
	os.WriteFile(filepath.Join(dir, "k.yml"), []byte(yml), 0o644)
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"kraken", filepath.Join(dir, "k.yml"), filepath.Join(dir, "out")}, io.Discard, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), `class_indices["LABEL_2"] is 7`) {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

func TestKrakenCLIRefuses(t *testing.T) {
	dir := t.TempDir()
	six := `{"models": {"expert1": "a", "expert2": "a", "expert3": "a", "expert4": "a", "expert5": "a", "expert6": "a"},
  "tokenizers": {"expert1": "a"}, "quantization": null, "class_indices": {"LABEL_0": 0}, "router": "r", "model_type": "kraken"}`
	os.WriteFile(filepath.Join(dir, "six.json"), []byte(six), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": 3}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"kraken"}, "missing CONFIG.json"},
		{[]string{"kraken", filepath.Join(dir, "six.json")}, "missing OUT"},
		{[]string{"kraken", filepath.Join(dir, "six.json"), filepath.Join(dir, "out")}, "hard-coded list expert1..expert5"},
		{[]string{"kraken", "train-router", "--base", dir}, "needs --base MODEL --data FILE.jsonl --out DIR"},
		{[]string{"kraken", "train-router", "--base", dir, "--data", filepath.Join(dir, "bad.jsonl"), "--out", filepath.Join(dir, "r")}, "bad.jsonl:2"},
		{[]string{"kraken", "route", dir, "--prompt", "x"}, "is not a Kraken"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), tt.args, io.Discard, &stderr)
		if code == exitOK || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("gomerge %s: exit %d, stderr %q, want %q", strings.Join(tt.args, " "), code, stderr.String(), tt.want)
		}
	}
}
