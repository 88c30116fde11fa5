package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// moeRefModel copies testdata/ref/moe/NAME into a temporary directory and
// adds a byte-level tokenizer.json whose ids stay inside its vocabulary of
// 96: "<s>" is 1 (added as BOS by the post-processor), a..z are 3..28 and
// the space (Ġ) is 29.
func moeRefModel(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("../../testdata/ref/moe", name)
	if _, err := os.Stat(src); err != nil {
		t.Skipf("no reference model: %v", err)
	}
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	vocab := map[string]int{"<s>": 1, "Ġ": 29}
	for c := 'a'; c <= 'z'; c++ {
		vocab[string(c)] = int(c-'a') + 3
	}
	tok := map[string]any{
		"added_tokens":  []any{map[string]any{"id": 1, "content": "<s>", "special": true}},
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>", "type_id": 0}}, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"pair":           []any{map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}, "tokens": []string{"<s>"}}}},
		"decoder": map[string]any{"type": "ByteLevel"},
		"model":   map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}},
	}
	b, _ := json.Marshal(tok)
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
	return dir
}

func TestMoERouteJSON(t *testing.T) {
	dir := moeRefModel(t, "mixtral_legacy")
	var stdout, stderr bytes.Buffer
	if code := runMoERoute(context.Background(), []string{dir, "--prompt", "hello moe world", "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep moeRouteReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	wantIDs := []int{1, 10, 7, 14, 14, 17, 29, 15, 17, 7, 29, 25, 17, 20, 14, 6}
	if fmt.Sprint(rep.IDs) != fmt.Sprint(wantIDs) || rep.Tokens[0] != "<s>" || rep.Tokens[6] != "Ġ" {
		t.Fatalf("ids %v tokens %q, want %v", rep.IDs, rep.Tokens, wantIDs)
	}
	if rep.Family != "mixtral" || rep.Experts != 4 || rep.ExpertsPerToken != 2 || len(rep.Layers) != 2 {
		t.Fatalf("report %+v", rep)
	}
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := m.Route(wantIDs)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range rep.Layers {
		if l.Layer != routes[i].Layer || fmt.Sprint(l.Experts) != fmt.Sprint(routes[i].Experts) ||
			fmt.Sprint(l.Weights) != fmt.Sprint(routes[i].Weights) || len(l.Probs) != len(wantIDs) {
			t.Errorf("layer %d: report %+v, Route %+v", i, l, routes[i])
		}
		total := 0
		for _, n := range l.Counts {
			total += n
		}
		if total != 2*len(wantIDs) {
			t.Errorf("layer %d: counts %v sum to %d, want %d", l.Layer, l.Counts, total, 2*len(wantIDs))
		}
	}
}

func TestMoERouteText(t *testing.T) {
	dir := moeRefModel(t, "qwen2_moe")
	ids := []int{1, 17, 42, 5, 90, 33}
	var stdout, stderr bytes.Buffer
	if code := runMoERoute(context.Background(), []string{dir, "--ids", "1,17,42,5,90,33"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	m, err := model.Open(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := m.Route(ids)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 2+len(routes) || !strings.Contains(lines[0], "qwen2_moe, 4 experts, 2 per token; 6 tokens, the last 33") {
		t.Fatalf("output:\n%s", stdout.String())
	}
	for i, r := range routes {
		last := len(ids) - 1
		want := fmt.Sprintf("%d (%.3f) %d (%.3f)", r.Experts[last][0], r.Weights[last][0], r.Experts[last][1], r.Weights[last][1])
		f := strings.Fields(lines[2+i])
		if f[0] != fmt.Sprint(r.Layer) || !strings.Contains(lines[2+i], want) {
			t.Errorf("line %q, want layer %d and %q", lines[2+i], r.Layer, want)
		}
	}
}

func TestMoERouteErrors(t *testing.T) {
	dense := testmodel.Must(t.Fatal, filepath.Join(t.TempDir(), "dense"), testmodel.Spec{Layers: 1, Vocab: 32, Seed: 1})
	moe := moeRefModel(t, "deepseek")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{dense, "--ids", "1,2"}, exitFailed, "llama is not a mixture of experts"},
		{[]string{moe, "--ids", "1,x"}, exitFailed, `"x" is not a token id`},
		{[]string{moe, "--ids", "1,96"}, exitFailed, "id 96 at position 1 is outside the vocabulary"},
		{[]string{moe}, exitUsage, "usage"},
		{[]string{moe, "--ids", "1", "--prompt", "a"}, exitUsage, "usage"},
		{[]string{filepath.Join(moe, "nope"), "--ids", "1"}, exitFailed, "nope"},
	} {
		var stdout, stderr bytes.Buffer
		code := runMoERoute(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}

// TestEvalMoE scores a dense model and the Mixtral made of four copies of
// its MLP (with a random router) with `gomerge eval`: every document's
// log-likelihood must agree.
func TestEvalMoE(t *testing.T) {
	root := t.TempDir()
	dense := testmodel.Must(t.Fatal, filepath.Join(root, "dense"), testmodel.Spec{Layers: 2, Vocab: 64, Seed: 4})
	moe := filepath.Join(root, "moe")
	writeCopiesMoE(t, dense, moe, 4)
	task := filepath.Join(root, "ids.jsonl")
	os.WriteFile(task, []byte("{\"ids\": [1, 17, 42, 9, 3, 50, 7, 7, 60]}\n{\"ids\": [2, 20, 31, 5, 18]}\n"), 0o644)
	score := func(dir string) []float64 {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"eval", dir, "--task", task, "--json", "--per-item"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("eval %s: exit %d: %s", dir, code, stderr.String())
		}
		var rep struct {
			Tasks []struct {
				Items []struct {
					LogLikelihood *float64 `json:"loglikelihood"`
				} `json:"items"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Tasks) != 1 || len(rep.Tasks[0].Items) != 2 {
			t.Fatalf("report %v: %s", err, stdout.String())
		}
		var out []float64
		for _, it := range rep.Tasks[0].Items {
			if it.LogLikelihood == nil {
				t.Fatalf("no loglikelihood: %s", stdout.String())
			}
			out = append(out, *it.LogLikelihood)
		}
		return out
	}
	a, b := score(dense), score(moe)
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-4 || a[i] == 0 {
			t.Errorf("document %d: dense %v, MoE %v", i, a[i], b[i])
		}
	}
}

// writeCopiesMoE writes to out a Mixtral (legacy layout) whose E experts
// are all the MLP of the dense model in dir, with a random router.
func writeCopiesMoE(t *testing.T, dir, out string, E int) {
	t.Helper()
	src, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	data := map[string][]byte{}
	var specs []safetensors.TensorSpec
	add := func(name string, raw []byte, shape []int64) {
		data[name] = raw
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: "F32", Shape: shape})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range src.Names() {
		info, _ := src.Tensor(name)
		raw := make([]byte, info.Size)
		if err := src.ReadTensor(name, raw); err != nil {
			t.Fatal(err)
		}
		var layer int
		var proj string
		if _, err := fmt.Sscanf(name, "model.layers.%d.mlp.%s", &layer, &proj); err != nil {
			add(name, raw, info.Shape)
			continue
		}
		p := fmt.Sprintf("model.layers.%d.block_sparse_moe.", layer)
		w := map[string]string{"gate_proj.weight": "w1", "down_proj.weight": "w2", "up_proj.weight": "w3"}[proj]
		for j := range E {
			add(fmt.Sprintf("%sexperts.%d.%s.weight", p, j, w), raw, info.Shape)
		}
		if proj == "gate_proj.weight" {
			H := info.Shape[1]
			router := make([]float32, int64(E)*H)
			for i := range router {
				router[i] = float32(r.NormFloat64())
			}
			buf := make([]byte, 4*len(router))
			tensor.Encode(buf, router, tensor.F32)
			add(p+"gate.weight", buf, []int64{int64(E), H})
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := safetensors.Create(out, specs, safetensors.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if err := w.WriteTensor(s.Name, data[s.Name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	json.Unmarshal(b, &cfg)
	cfg["architectures"] = []string{"MixtralForCausalLM"}
	cfg["model_type"] = "mixtral"
	cfg["num_local_experts"] = E
	cfg["num_experts_per_tok"] = 2
	b, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(out, "config.json"), b, 0o644)
}
