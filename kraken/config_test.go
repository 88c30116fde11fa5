package kraken

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// krakenJSON is the original's config.json (cognitivecomputations/kraken),
// as the save notebook reads it.
const krakenJSON = `{
    "tokenizers": {
      "expert1": "microsoft/Phi-3-medium-128k-instruct",
      "expert2": "gorilla-llm/gorilla-openfunctions-v2",
      "expert3": "ise-uiuc/Magicoder-S-DS-6.7B",
      "expert4": "defog/llama-3-sqlcoder-8b",
      "expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct"
    },
    "models": {
      "expert1": "microsoft/Phi-3-medium-128k-instruct",
      "expert2": "gorilla-llm/gorilla-openfunctions-v2",
      "expert3": "ise-uiuc/Magicoder-S-DS-6.7B",
      "expert4": "defog/llama-3-sqlcoder-8b",
      "expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct"
    },
    "quantization": {"expert1": null, "expert2": null, "expert3": null, "expert4": null, "expert5": null},
    "class_indices": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2, "LABEL_3": 3, "LABEL_4": 4},
    "router": "cognitivecomputations/Kraken_experiment01",
    "model_type": "kraken"
}`

// loraJSON is the original's Kraken-LoRA/config.json.
const loraJSON = `{
  "tokenizers": {"lora_expert1": "a1", "lora_expert2": "a2"},
  "models": {"base": "meta-llama/Meta-Llama-3-8B-Instruct"},
  "lora_adapters": {"lora_expert1": "a1", "lora_expert2": "a2"},
  "quantization": {"base": null},
  "class_indices": {"LABEL_0": 0, "LABEL_1": 1},
  "router": "../kraken/kraken_router",
  "model_type": "kraken"
}`

func TestValidate(t *testing.T) {
	edit := func(base, from, to string) string {
		if !strings.Contains(base, from) {
			t.Fatalf("fixture lacks %q", from)
		}
		return strings.Replace(base, from, to, 1)
	}
	tests := []struct {
		name, json string
		err        string // substring; "" means valid
		warn       string // substring of some warning
	}{
		{"original", krakenJSON, "", ""},
		{"original lora", loraJSON, "", ""},
		{"sixth expert", edit(krakenJSON, `"expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct"
    },
    "quantization"`, `"expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct", "expert6": "x"
    },
    "quantization"`), "hard-coded list expert1..expert5", ""},
		{"index 5", edit(krakenJSON, `"LABEL_4": 4`, `"LABEL_4": 5`), `class_indices["LABEL_4"] is 5`, ""},
		{"negative index", edit(krakenJSON, `"LABEL_0": 0`, `"LABEL_0": -1`), "must be 0..4", ""},
		{"missing model", edit(krakenJSON, `"expert3": "ise-uiuc/Magicoder-S-DS-6.7B",
      "expert4": "defog/llama-3-sqlcoder-8b",
      "expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct"
    },
    "quantization"`, `"expert4": "defog/llama-3-sqlcoder-8b",
      "expert5": "VAGOsolutions/Llama-3-SauerkrautLM-8b-Instruct"
    },
    "quantization"`), "selects expert3, but models has no expert3", ""},
		{"missing tokenizer", edit(krakenJSON, `"expert2": "gorilla-llm/gorilla-openfunctions-v2",
      "expert3"`, `"expert3"`), "tokenizers has no expert2", ""},
		{"model type", edit(krakenJSON, `"model_type": "kraken"`, `"model_type": "llama"`), `model_type is "llama"`, ""},
		{"no router", edit(krakenJSON, `"router": "cognitivecomputations/Kraken_experiment01",`, ``), "router is missing", ""},
		{"no class indices", edit(krakenJSON, `"class_indices": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2, "LABEL_3": 3, "LABEL_4": 4},`, ``), "class_indices is missing", ""},
		{"unchosen expert", edit(krakenJSON, `, "LABEL_4": 4`, ``), "", "models.expert5 is never chosen"},
		{"quantized", edit(krakenJSON, `"expert2": null`, `"expert2": "4bit"`), "", `quantization.expert2 is "4bit"`},
		{"bad quantization", edit(krakenJSON, `"expert2": null`, `"expert2": "3bit"`), `quantization.expert2 is "3bit"`, ""},
		{"no quantization", edit(krakenJSON, `"quantization": {"expert1": null, "expert2": null, "expert3": null, "expert4": null, "expert5": null},`, ``), "", "quantization is missing"},
		{"lora two models", edit(loraJSON, `"models": {"base": "meta-llama/Meta-Llama-3-8B-Instruct"}`, `"models": {"base": "b", "expert1": "c"}`), `exactly one key, "base"`, ""},
		{"lora adapter missing", edit(loraJSON, `"class_indices": {"LABEL_0": 0, "LABEL_1": 1}`, `"class_indices": {"LABEL_0": 0, "LABEL_1": 2}`), "lora_adapters has no lora_expert3", ""},
		{"wrong type", edit(krakenJSON, `"router": "cognitivecomputations/Kraken_experiment01"`, `"router": 3`), "router", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.json))
			var warns []string
			if err == nil {
				warns, err = c.Validate()
			}
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrConfig) {
					t.Fatalf("error %v, want one with %q wrapping ErrConfig", err, tt.err)
				}
				return
			}
			if tt.warn != "" && !strings.Contains(strings.Join(warns, "\n"), tt.warn) {
				t.Errorf("warnings %q lack %q", warns, tt.warn)
			}
		})
	}
}

func TestConfigDict(t *testing.T) {
	c, err := Parse([]byte(`{"models": {"expert1": "m"}, "tokenizers": {"expert1": "m"}, "class_indices": {"LABEL_0": 0},
		"router": "r", "model_type": "kraken", "note": "kept"}`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.dict()
	if _, ok := d["note"]; !ok {
		t.Error("unknown field dropped from config_dict")
	}
	q, ok := d["quantization"].(map[string]*string)
	if v, has := q["expert1"]; !ok || !has || v != nil {
		t.Errorf("quantization %v, want expert1: null filled in", d["quantization"])
	}
	if c.IsLoRA() || c.ExpertKey(1) != "expert2" {
		t.Error("IsLoRA/ExpertKey")
	}
}

func TestReadExamples(t *testing.T) {
	ex, err := ReadExamples(strings.NewReader(`{"text": "a", "label": "expert1"}

{"text": "b", "label": 3}
`), "d.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 2 || ex[0] != (Example{"a", "expert1"}) || ex[1] != (Example{"b", "LABEL_3"}) {
		t.Errorf("%+v", ex)
	}
	for _, tt := range []struct{ in, err string }{
		{`{"label": "x"}`, `d.jsonl:1: no "text"`},
		{"{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"a\"}", `d.jsonl:2: no "label"`},
		{`{"text": "a", "label": ""}`, `empty "label"`},
		{`{"text": "a", "label": -1}`, `want a string or a non-negative integer`},
		{`{"text": "a", "label": 1.5}`, `want a string or a non-negative integer`},
		{`[1]`, `d.jsonl:1:`},
	} {
		if _, err := ReadExamples(strings.NewReader(tt.in), "d.jsonl"); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
		}
	}
}

func TestLabelOrder(t *testing.T) {
	got := []string{"expert10", "LABEL_2", "expert2", "LABEL_10", "b", "a"}
	want := []string{"LABEL_2", "LABEL_10", "a", "b", "expert2", "expert10"}
	sortLabels(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%q, want %q", got, want)
	}
}

// A router that is not a classifier, or whose labels class_indices does
// not map, is refused before anything is written.
func TestBuildRefuses(t *testing.T) {
	d, r := routerFix(t)
	dir := t.TempDir()
	base := `{"models": {"expert1": "m", "expert2": "m"}, "tokenizers": {"expert1": "m", "expert2": "m"},
		"quantization": null, "router": ROUTER, "model_type": "kraken", "class_indices": CI}`
	for _, tt := range []struct{ name, router, ci, err string }{
		{"not a classifier", d.base, `{"expert1": 0}`, "neither id2label nor num_labels"},
		{"unmapped label", r.dir, `{"expert1": 0, "expert2": 1}`, `label "expert3", which class_indices does not map`},
		{"remote router", "org/router", `{"expert1": 0}`, "not a local directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			js := strings.NewReplacer("ROUTER", `"`+tt.router+`"`, "CI", tt.ci).Replace(base)
			c, err := Parse([]byte(js))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, tt.name)
			_, err = Build(c, out, BuildOptions{Dir: dir, WriteOptions: WriteOptions{Logger: quiet}})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("output written")
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(krakenJSON))
	f.Add([]byte(loraJSON))
	f.Add([]byte(`{"class_indices": {"a": 9}, "model_type": "kraken", "router": "r"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		if _, err := c.Validate(); err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		// A valid config routes every label to an expert with a
		// tokenizer, within the five hard-coded keys.
		for label, k := range c.ClassIndices {
			if k < 0 || k >= MaxExperts {
				t.Fatalf("%s → %d accepted", label, k)
			}
			key := c.ExpertKey(k)
			if c.Tokenizers[key] == "" {
				t.Fatalf("%s has no tokenizer", key)
			}
		}
		if _, err := modelConfig(c, "float32"); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzReadExamples(f *testing.F) {
	f.Add([]byte("{\"text\": \"a\", \"label\": \"expert1\"}\n{\"text\": \"b\", \"label\": 2}\n"))
	f.Add([]byte("\n\n{\"text\": \"\", \"label\": 0}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ex, err := ReadExamples(bytes.NewReader(data), "f.jsonl")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.jsonl") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, e := range ex {
			if e.Label == "" {
				t.Fatal("empty label accepted")
			}
		}
	})
}

// Experts given by Hugging Face id are referenced verbatim; routing to one
// says it must be local.
func TestBuildHubExperts(t *testing.T) {
	d, r := routerFix(t)
	dir := t.TempDir()
	c, err := Parse([]byte(`{"models": {"expert1": "org/story", "expert2": "` + d.experts[1] + `", "expert3": "org/math"},
		"tokenizers": {"expert1": "org/story", "expert2": "` + d.experts[1] + `", "expert3": "org/math"},
		"quantization": {"expert1": null, "expert2": null, "expert3": null},
		"class_indices": {"expert1": 0, "expert2": 1, "expert3": 2}, "router": "` + r.dir + `", "model_type": "kraken"}`))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "k")
	res, err := Build(c, out, BuildOptions{Dir: dir, WriteOptions: WriteOptions{Logger: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Experts["expert1"] != "org/story" || res.Experts["expert2"] != d.experts[1] {
		t.Errorf("experts %v", res.Experts)
	}
	if _, err := Build(c, filepath.Join(dir, "k2"), BuildOptions{Dir: dir, CopyExperts: true, WriteOptions: WriteOptions{Logger: quiet}}); err == nil ||
		!strings.Contains(err.Error(), `"org/story" is not a local directory, so it cannot be copied`) {
		t.Errorf("copying a hub expert: %v", err)
	}
	k, err := Open(out, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Expert("expert2"); err != nil {
		t.Error(err)
	}
	if _, err := k.Expert("expert1"); err == nil || !strings.Contains(err.Error(), `tokenizers.expert1 "org/story" is not a local directory`) {
		t.Errorf("hub expert: %v", err)
	}
}

// The head fits separable features, and does not depend on the number of
// CPUs computing the gradient.
func TestFitSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	f := &features{hidden: 8}
	for i := range 300 {
		y := i % 3
		x := make([]float32, 8)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		x[y] += 3
		f.x, f.y = append(f.x, x), append(f.y, y)
	}
	prev := runtime.GOMAXPROCS(1)
	w1, _, loss, _ := fitSoftmax(context.Background(), f, 3, 1e-3, 500)
	runtime.GOMAXPROCS(4)
	w4, _, _, _ := fitSoftmax(context.Background(), f, 3, 1e-3, 500)
	runtime.GOMAXPROCS(prev)
	if !slices.Equal(w1, w4) {
		t.Error("the head depends on GOMAXPROCS")
	}
	acc, _ := score(&Head{Labels: []string{"a", "b", "c"}, Weight: w1}, f)
	if acc < 0.97 || loss > 0.2 {
		t.Errorf("train accuracy %g, loss %g", acc, loss)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := fitSoftmax(ctx, f, 3, 1e-3, 500); err != context.Canceled {
		t.Errorf("cancelled fit: %v", err)
	}
}
