package kraken

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tokenizer"
)

// quiet discards the package's logs in tests.
var quiet = slog.New(slog.DiscardHandler)

// trainedRouter trains a router on stories260K once per test binary.
var trainedRouter = sync.OnceValues(func() (routerFixture, error) {
	var f routerFixture
	d, err := stories()
	if err != nil {
		return f, err
	}
	base, err := model.Open(d.base, model.Options{})
	if err != nil {
		return f, err
	}
	tok, err := tokenizer.Load(d.base)
	if err != nil {
		return f, err
	}
	f.head, f.report, err = TrainRouter(context.Background(), base, tok, promptClasses(30, 1), TrainOptions{Seed: 42, HoldOut: 0.3, Logger: quiet})
	if err != nil {
		return f, err
	}
	f.dir = filepath.Join(fixtureTmp, "router")
	err = WriteRouter(d.base, f.dir, f.head, WriteOptions{Logger: quiet})
	return f, err
})

type routerFixture struct {
	head   *Head
	report *Report
	dir    string
}

func routerFix(t *testing.T) (storiesDirs, routerFixture) {
	t.Helper()
	d := storiesFixture(t)
	r, err := trainedRouter()
	if err != nil {
		t.Fatalf("router fixture: %v", err)
	}
	return d, r
}

// A router trained on three clearly different kinds of prompt reaches
// high held-out accuracy, and the written checkpoint classifies fresh
// prompts as the trained head does.
func TestTrainRouterStories(t *testing.T) {
	_, r := routerFix(t)
	rep := r.report
	var sb strings.Builder
	if err := rep.WriteReport(&sb); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + sb.String())
	if rep.Accuracy == nil || *rep.Accuracy < 0.95 {
		t.Fatalf("held-out accuracy %v, want >= 0.95", rep.Accuracy)
	}
	if rep.HeldOut != 27 || rep.Train != 63 {
		t.Errorf("split %d train / %d held out, want 63 / 27", rep.Train, rep.HeldOut)
	}
	if !slices.Equal(rep.Labels, []string{"expert1", "expert2", "expert3"}) {
		t.Errorf("labels %q", rep.Labels)
	}
	for _, want := range []string{"held-out accuracy", "confusion", "expert3"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	c, err := model.OpenClassifier(r.dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels(), rep.Labels) {
		t.Fatalf("checkpoint labels %q, want %q", c.Labels(), rep.Labels)
	}
	tok, err := tokenizer.Load(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	right, n := 0, 0
	for _, e := range promptClasses(10, 99) {
		logits, err := c.Classify(tok.Encode(e.Text, true))
		if err != nil {
			t.Fatal(err)
		}
		n++
		if c.Labels()[model.Argmax(logits)] == e.Label {
			right++
		}
	}
	if float64(right)/float64(n) < 0.95 {
		t.Errorf("fresh prompts: %d of %d right", right, n)
	}
}

// Training is deterministic for a seed, and the seed moves the split.
func TestTrainRouterDeterministic(t *testing.T) {
	d := storiesFixture(t)
	base, err := model.Open(d.base, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(d.base)
	if err != nil {
		t.Fatal(err)
	}
	ex := promptClasses(6, 5)
	opt := TrainOptions{Seed: 7, HoldOut: 0.34, Iterations: 200, Logger: quiet}
	h1, _, err := TrainRouter(context.Background(), base, tok, ex, opt)
	if err != nil {
		t.Fatal(err)
	}
	h2, _, err := TrainRouter(context.Background(), base, tok, ex, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h1.Weight, h2.Weight) {
		t.Error("same seed, different heads")
	}
	opt.Seed = 8
	h3, _, err := TrainRouter(context.Background(), base, tok, ex, opt)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(h1.Weight, h3.Weight) {
		t.Error("another seed gave the same head")
	}
	if _, _, err := TrainRouter(context.Background(), base, tok, ex[:1], opt); err == nil {
		t.Error("one label trained")
	}
}

// buildStories builds a Kraken of the three noisy experts with the
// trained router.
func buildStories(t *testing.T, copyExperts bool) (string, *BuildResult) {
	t.Helper()
	d, r := routerFix(t)
	dir := t.TempDir()
	cfg := map[string]any{
		"models":        map[string]string{"expert1": d.experts[0], "expert2": d.experts[1], "expert3": d.experts[2]},
		"tokenizers":    map[string]string{"expert1": d.experts[0], "expert2": d.experts[1], "expert3": d.experts[2]},
		"quantization":  map[string]any{"expert1": nil, "expert2": nil, "expert3": nil},
		"class_indices": map[string]int{"expert1": 0, "expert2": 1, "expert3": 2},
		"router":        r.dir,
		"model_type":    "kraken",
	}
	raw, _ := json.Marshal(cfg)
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "kraken")
	res, err := Build(c, out, BuildOptions{CopyExperts: copyExperts, Dir: dir, WriteOptions: WriteOptions{Logger: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

func TestBuildLayout(t *testing.T) {
	for _, copyExperts := range []bool{false, true} {
		out, res := buildStories(t, copyExperts)
		d, r := routerFix(t)
		for _, f := range []string{"kraken_model/config.json", "kraken_model/generation_config.json", "kraken_model/model.safetensors",
			"kraken_router/config.json", "kraken_router/model.safetensors", "kraken_router/tokenizer.model"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("copy=%v: %v", copyExperts, err)
			}
		}
		raw, err := os.ReadFile(filepath.Join(out, "kraken_model/config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Arch       []string          `json:"architectures"`
			AutoMap    map[string]string `json:"auto_map"`
			ModelType  string            `json:"model_type"`
			DType      string            `json:"torch_dtype"`
			ConfigDict struct {
				Models       map[string]string `json:"models"`
				Tokenizers   map[string]string `json:"tokenizers"`
				Router       string            `json:"router"`
				ClassIndices map[string]int    `json:"class_indices"`
				Quantization map[string]any    `json:"quantization"`
				ModelType    string            `json:"model_type"`
			} `json:"config_dict"`
		}
		if err := json.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Arch, []string{"KrakenForCausalLM"}) || cfg.ModelType != "kraken" || cfg.DType != "float32" ||
			cfg.AutoMap["AutoConfig"] != "configuration_kraken.KrakenConfig" ||
			cfg.AutoMap["AutoModelForCausalLM"] != "modeling_kraken.KrakenForCausalLM" ||
			cfg.AutoMap["AutoModel"] != "modeling_kraken.KrakenForCausalLM" {
			t.Errorf("config.json: %s", raw)
		}
		cd := cfg.ConfigDict
		if cd.Router != RouterDir || cd.ModelType != "kraken" || len(cd.ClassIndices) != 3 || len(cd.Quantization) != 3 {
			t.Errorf("config_dict: %s", raw)
		}
		for i, key := range []string{"expert1", "expert2", "expert3"} {
			want := d.experts[i]
			if copyExperts {
				want = "experts/" + key
				if _, err := os.Stat(filepath.Join(out, want, "model.safetensors")); err != nil {
					t.Error(err)
				}
			}
			if cd.Models[key] != want || cd.Tokenizers[key] != want || res.Experts[key] != want {
				t.Errorf("copy=%v: %s is %q / %q, want %q", copyExperts, key, cd.Models[key], cd.Tokenizers[key], want)
			}
		}
		// The router's weights, under router_model., as save_pretrained
		// writes the registered submodule.
		km, err := safetensors.OpenModel(filepath.Join(out, ModelDir))
		if err != nil {
			t.Fatal(err)
		}
		rm, err := safetensors.OpenModel(r.dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(km.Names()) != len(rm.Names()) {
			t.Errorf("%d tensors in kraken_model, router has %d", len(km.Names()), len(rm.Names()))
		}
		for _, n := range rm.Names() {
			a, ok := km.Tensor("router_model." + n)
			b, _ := rm.Tensor(n)
			if !ok || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) {
				t.Errorf("router_model.%s: %v, router has %v", n, a, b)
			}
		}
		km.Close()
		rm.Close()
		if !IsKraken(out) || !IsKraken(filepath.Join(out, ModelDir)) || IsKraken(d.base) {
			t.Error("IsKraken")
		}
	}
}

// A Kraken of stories260K-based experts routes held-out prompts of each
// class to its expert, and the expert's answer is that expert's own greedy
// generation.
func TestKrakenRoutes(t *testing.T) {
	for _, copyExperts := range []bool{false, true} {
		out, _ := buildStories(t, copyExperts)
		k, err := Open(out, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		d := storiesFixture(t)
		expertModels := map[string]*model.Model{}
		for i, key := range []string{"expert1", "expert2", "expert3"} {
			if expertModels[key], err = model.Open(d.experts[i], model.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := tokenizer.Load(d.base)
		if err != nil {
			t.Fatal(err)
		}
		right, n := 0, 0
		differ := false
		for i, e := range promptClasses(6, 123) {
			a, err := k.Generate(context.Background(), []Message{{Role: "user", Content: e.Text}},
				GenerateOptions{GenerateOptions: model.GenerateOptions{MaxNewTokens: 12}})
			if err != nil {
				t.Fatal(err)
			}
			n++
			if a.Expert == e.Label {
				right++
			}
			ids := tok.Encode(e.Text, true)
			if !slices.Equal(a.PromptIDs, ids) {
				t.Fatalf("prompt ids %v, want %v", a.PromptIDs, ids)
			}
			want, err := expertModels[a.Expert].Generate(ids, 12, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Tokens, want) {
				t.Errorf("prompt %d: %s answered %v, its own greedy generation is %v", i, a.Expert, a.Tokens, want)
			}
			other, _ := expertModels[otherExpert(a.Expert)].Generate(ids, 12, 2)
			differ = differ || !slices.Equal(other, want)
			if a.Text != tok.Decode(a.Tokens, true) {
				t.Errorf("text %q", a.Text)
			}
		}
		if right != n {
			t.Errorf("copy=%v: %d of %d held-out prompts routed to their expert", copyExperts, right, n)
		}
		if !differ {
			t.Error("the noisy experts all generate alike: the test cannot tell which answered")
		}
	}
}

func otherExpert(k string) string {
	if k == "expert1" {
		return "expert2"
	}
	return "expert1"
}

// writeAdapter writes a PEFT LoRA adapter for stories260K's q_proj and
// v_proj in every layer, random factors of the given scale.
func writeAdapter(t *testing.T, dir string, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeJSON(t, filepath.Join(dir, "adapter_config.json"), map[string]any{
		"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "v_proj"},
		"base_model_name_or_path": "stories260K",
	})
	const hidden, kv, r = 64, 32, 4
	rng := rand.New(rand.NewPCG(seed, 11))
	type tens struct {
		name  string
		shape []int64
	}
	var ts []tens
	for l := range 5 {
		for _, m := range []struct {
			name string
			out  int64
		}{{"q_proj", hidden}, {"v_proj", kv}} {
			p := "base_model.model.model.layers." + string(rune('0'+l)) + ".self_attn." + m.name
			ts = append(ts, tens{p + ".lora_A.weight", []int64{r, hidden}}, tens{p + ".lora_B.weight", []int64{m.out, r}})
		}
	}
	var specs []safetensors.TensorSpec
	for _, x := range ts {
		specs = append(specs, safetensors.TensorSpec{Name: x.name, DType: safetensors.F32, Shape: x.shape})
	}
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{SingleFile: "adapter_model.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		n := x.shape[0] * x.shape[1]
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(0.3*rng.NormFloat64())))
		}
		if err := w.WriteTensor(x.name, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A Kraken-LoRA routes to an adapter and answers with the base plus that
// adapter, applied in memory and cached.
func TestKrakenLoRA(t *testing.T) {
	d, r := routerFix(t)
	dir := t.TempDir()
	var adapters [3]string
	for i := range adapters {
		adapters[i] = filepath.Join(dir, "adapter"+string(rune('1'+i)))
		writeAdapter(t, adapters[i], uint64(i+1))
		// Each adapter directory carries a tokenizer, as Kraken-LoRA's do.
		for _, f := range []string{"tokenizer.model", "tokenizer_config.json"} {
			b, err := os.ReadFile(filepath.Join(d.base, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(adapters[i], f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := map[string]any{
		"models":        map[string]string{"base": "stories"},
		"lora_adapters": map[string]string{"lora_expert1": "adapter1", "lora_expert2": "adapter2", "lora_expert3": "adapter3"},
		"tokenizers":    map[string]string{"lora_expert1": "adapter1", "lora_expert2": "adapter2", "lora_expert3": "adapter3"},
		"quantization":  map[string]any{"base": nil},
		"class_indices": map[string]int{"expert1": 0, "expert2": 1, "expert3": 2},
		"router":        r.dir,
		"model_type":    "kraken",
	}
	if err := os.Symlink(d.base, filepath.Join(dir, "stories")); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cfg)
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := Build(c, out, BuildOptions{Dir: dir, CopyExperts: true, WriteOptions: WriteOptions{Logger: quiet}}); err != nil {
		t.Fatal(err)
	}
	cfgJSON, err := os.ReadFile(filepath.Join(out, ModelDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfgJSON), `"modeling_kraken_lora.KrakenForCausalLM"`) ||
		!strings.Contains(string(cfgJSON), `"lora_expert2": "experts/lora_expert2"`) ||
		!strings.Contains(string(cfgJSON), `"base": "experts/base"`) {
		t.Errorf("config.json: %s", cfgJSON)
	}
	k, err := Open(out, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := tokenizer.Load(d.base)
	for i, e := range promptClasses(2, 77) {
		a, err := k.Generate(context.Background(), []Message{{Role: "user", Content: e.Text}},
			GenerateOptions{GenerateOptions: model.GenerateOptions{MaxNewTokens: 10}})
		if err != nil {
			t.Fatal(err)
		}
		want := "lora_" + e.Label
		if a.Expert != want {
			t.Errorf("prompt %d routed to %s, want %s", i, a.Expert, want)
			continue
		}
		adapted, err := openAdapted(d.base, adapters[slices.Index([]string{"lora_expert1", "lora_expert2", "lora_expert3"}, want)], model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := tok.Encode(e.Text, true)
		wantToks, _ := adapted.Generate(ids, 10, 2)
		if !slices.Equal(a.Tokens, wantToks) {
			t.Errorf("prompt %d: %v, base+adapter generates %v", i, a.Tokens, wantToks)
		}
		e1, _ := k.Expert(a.Expert)
		e2, _ := k.Expert(a.Expert)
		if e1 != e2 || e1.Adapter == "" {
			t.Error("adapted expert not cached")
		}
	}
}

// An expert whose tokenizer has a chat template is prompted with the
// conversation rendered by it (with the generation prompt), encoded
// without adding special tokens: a template writes its own.
func TestKrakenChatTemplate(t *testing.T) {
	d, r := routerFix(t)
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "templated")
	if err := copyDir(d.experts[0], tmpl); err != nil {
		t.Fatal(err)
	}
	const src = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
	writeJSON(t, filepath.Join(tmpl, "tokenizer_config.json"), map[string]any{
		"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": true, "chat_template": src,
	})
	cfg := map[string]any{
		"models":        map[string]string{"expert1": tmpl, "expert2": d.experts[1], "expert3": d.experts[2]},
		"tokenizers":    map[string]string{"expert1": tmpl, "expert2": d.experts[1], "expert3": d.experts[2]},
		"class_indices": map[string]int{"expert1": 0, "expert2": 1, "expert3": 2},
		"router":        r.dir,
		"model_type":    "kraken",
	}
	raw, _ := json.Marshal(cfg)
	c, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "k")
	if _, err := Build(c, out, BuildOptions{Dir: dir, WriteOptions: WriteOptions{Logger: quiet}}); err != nil {
		t.Fatal(err)
	}
	k, err := Open(out, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Once upon a time, there was a little girl named Lily."}}
	a, err := k.Generate(context.Background(), msgs, GenerateOptions{GenerateOptions: model.GenerateOptions{MaxNewTokens: 4}})
	if err != nil {
		t.Fatal(err)
	}
	want := "system: Be brief.\nuser: Once upon a time, there was a little girl named Lily.\nassistant:"
	if a.Expert != "expert1" || a.Prompt != want {
		t.Fatalf("expert %s, prompt %q, want expert1 and %q", a.Expert, a.Prompt, want)
	}
	tok, err := tokenizer.Load(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if ids := tok.Encode(want, false); !slices.Equal(a.PromptIDs, ids) || ids[0] == 1 {
		t.Errorf("prompt ids %v, want %v (no BOS added to a rendered template)", a.PromptIDs, ids)
	}
	// The router has no template: it classifies the messages' text.
	if a.Route.Text != "Be brief.Once upon a time, there was a little girl named Lily." {
		t.Errorf("router text %q", a.Route.Text)
	}
}
