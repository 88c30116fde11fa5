package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
)

// memSource is a safetensors.Source of F32 tensors held in memory.
type memSource struct {
	names []string
	t     map[string]memTensor
}

type memTensor struct {
	shape []int64
	data  []float32
}

func newMem() *memSource { return &memSource{t: map[string]memTensor{}} }

func (s *memSource) add(name string, data []float32, shape ...int64) {
	if _, ok := s.t[name]; !ok {
		s.names = append(s.names, name)
	}
	s.t[name] = memTensor{shape, data}
}

func (s *memSource) del(name string) {
	delete(s.t, name)
	s.names = slices.DeleteFunc(s.names, func(n string) bool { return n == name })
}

func (s *memSource) get(name string) []float32 { return s.t[name].data }

func (s *memSource) Names() []string { return s.names }

func (s *memSource) Tensor(name string) (safetensors.TensorInfo, bool) {
	x, ok := s.t[name]
	return safetensors.TensorInfo{Name: name, DType: "F32", Shape: x.shape, Size: 4 * int64(len(x.data))}, ok
}

func (s *memSource) ReadTensorRange(name string, off int64, dst []byte) error {
	x, ok := s.t[name]
	if !ok || off%4 != 0 || off+int64(len(dst)) > 4*int64(len(x.data)) {
		return fmt.Errorf("bad read of %s", name)
	}
	for i := range len(dst) / 4 {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x.data[int(off/4)+i]))
	}
	return nil
}

func (s *memSource) Close() error { return nil }

// clone copies the source (the tensors' data is shared, not copied).
func (s *memSource) clone() *memSource {
	c := newMem()
	for _, n := range s.names {
		c.add(n, s.t[n].data, s.t[n].shape...)
	}
	return c
}

// tinyDims are the dimensions of the identity tests' models.
const (
	tH, tI, tV, tL, tHeads, tKV, tHD = 32, 48, 96, 3, 4, 2, 8
)

func randn(r *rand.Rand, n int, std float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * std)
	}
	return out
}

// denseModel returns a random dense model of family base (llama, qwen2 or
// qwen3) and its config.json fields.
func denseModel(base string, seed uint64) (*memSource, map[string]any) {
	r := rand.New(rand.NewPCG(seed, 7))
	s := newMem()
	s.add("model.embed_tokens.weight", randn(r, tV*tH, 0.5), tV, tH)
	for l := range tL {
		p := fmt.Sprintf("model.layers.%d.", l)
		norm := func(name string, n int) {
			w := randn(r, n, 0.1)
			for i := range w {
				w[i]++
			}
			s.add(name, w, int64(n))
		}
		norm(p+"input_layernorm.weight", tH)
		norm(p+"post_attention_layernorm.weight", tH)
		s.add(p+"self_attn.q_proj.weight", randn(r, tHeads*tHD*tH, 0.2), tHeads*tHD, tH)
		s.add(p+"self_attn.k_proj.weight", randn(r, tKV*tHD*tH, 0.2), tKV*tHD, tH)
		s.add(p+"self_attn.v_proj.weight", randn(r, tKV*tHD*tH, 0.2), tKV*tHD, tH)
		s.add(p+"self_attn.o_proj.weight", randn(r, tH*tHeads*tHD, 0.2), tH, tHeads*tHD)
		switch base {
		case "qwen2":
			s.add(p+"self_attn.q_proj.bias", randn(r, tHeads*tHD, 0.1), tHeads*tHD)
			s.add(p+"self_attn.k_proj.bias", randn(r, tKV*tHD, 0.1), tKV*tHD)
			s.add(p+"self_attn.v_proj.bias", randn(r, tKV*tHD, 0.1), tKV*tHD)
		case "qwen3":
			norm(p+"self_attn.q_norm.weight", tHD)
			norm(p+"self_attn.k_norm.weight", tHD)
		}
		s.add(p+"mlp.gate_proj.weight", randn(r, tI*tH, 0.2), tI, tH)
		s.add(p+"mlp.up_proj.weight", randn(r, tI*tH, 0.2), tI, tH)
		s.add(p+"mlp.down_proj.weight", randn(r, tH*tI, 0.2), tH, tI)
	}
	w := randn(r, tH, 0.1)
	for i := range w {
		w[i]++
	}
	s.add("model.norm.weight", w, tH)
	s.add("lm_head.weight", randn(r, tV*tH, 0.2), tV, tH)
	cfg := map[string]any{
		"model_type": base, "vocab_size": tV, "hidden_size": tH, "intermediate_size": tI,
		"num_hidden_layers": tL, "num_attention_heads": tHeads, "num_key_value_heads": tKV, "head_dim": tHD,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": false,
	}
	return s, cfg
}

func scaled(x []float32, a float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * a
	}
	return out
}

func stack(parts ...[]float32) []float32 { return slices.Concat(parts...) }

// moeCase turns the dense model into a mixture of experts whose every
// routed expert (and shared expert) is the dense MLP: routed experts scaled
// by routed, the shared expert by shared, so that routed+shared = 1 gives
// the dense model back when the top-k weights sum to 1.
type moeCase struct {
	name    string
	base    string
	cfg     map[string]any
	build   func(s *memSource, l int, r *rand.Rand) // sparse layer l
	sparse  []bool
	routedK int
}

const tE = 4

func mlpOf(s *memSource, l int) (g, u, d []float32) {
	p := fmt.Sprintf("model.layers.%d.mlp.", l)
	return s.get(p + "gate_proj.weight"), s.get(p + "up_proj.weight"), s.get(p + "down_proj.weight")
}

func dropDense(s *memSource, l int) {
	p := fmt.Sprintf("model.layers.%d.mlp.", l)
	for _, n := range []string{"gate_proj", "up_proj", "down_proj"} {
		s.del(p + n + ".weight")
	}
}

func routerFor(s *memSource, name string, r *rand.Rand) {
	s.add(name, randn(r, tE*tH, 1), tE, tH)
}

// perExpert writes E copies of layer l's MLP as mlp.experts.J.*_proj with
// down_proj scaled by a.
func perExpert(s *memSource, l int, a float32) {
	g, u, d := mlpOf(s, l)
	for j := range tE {
		p := fmt.Sprintf("model.layers.%d.mlp.experts.%d.", l, j)
		s.add(p+"gate_proj.weight", g, tI, tH)
		s.add(p+"up_proj.weight", u, tI, tH)
		s.add(p+"down_proj.weight", scaled(d, a), tH, tI)
	}
}

// fused writes E copies of layer l's MLP as transformers 5 stacks them.
func fused(s *memSource, l int, a float32) {
	g, u, d := mlpOf(s, l)
	p := fmt.Sprintf("model.layers.%d.mlp.experts.", l)
	var gu, dn [][]float32
	for range tE {
		gu = append(gu, g, u)
		dn = append(dn, scaled(d, a))
	}
	s.add(p+"gate_up_proj", stack(gu...), tE, 2*tI, tH)
	s.add(p+"down_proj", stack(dn...), tE, tH, tI)
}

func moeCases() []moeCase {
	all := []bool{true, true, true}
	return []moeCase{
		{name: "mixtral_legacy", base: "llama", sparse: all,
			cfg: map[string]any{"model_type": "mixtral", "architectures": []string{"MixtralForCausalLM"},
				"num_local_experts": tE, "num_experts_per_tok": 2, "sliding_window": nil},
			build: func(s *memSource, l int, r *rand.Rand) {
				g, u, d := mlpOf(s, l)
				p := fmt.Sprintf("model.layers.%d.block_sparse_moe.", l)
				routerFor(s, p+"gate.weight", r)
				for j := range tE {
					e := fmt.Sprintf("%sexperts.%d.", p, j)
					s.add(e+"w1.weight", g, tI, tH)
					s.add(e+"w3.weight", u, tI, tH)
					s.add(e+"w2.weight", d, tH, tI)
				}
			}},
		{name: "mixtral_fused", base: "llama", sparse: all,
			cfg: map[string]any{"model_type": "mixtral", "num_local_experts": tE, "num_experts_per_tok": 3},
			build: func(s *memSource, l int, r *rand.Rand) {
				routerFor(s, fmt.Sprintf("model.layers.%d.mlp.gate.weight", l), r)
				fused(s, l, 1)
			}},
		// Shared expert: sigmoid(0) = 1/2, routed experts' down_proj halved.
		{name: "qwen2_moe", base: "qwen2", sparse: []bool{false, true, true},
			cfg: map[string]any{"model_type": "qwen2_moe", "num_experts": tE, "num_experts_per_tok": 2,
				"moe_intermediate_size": tI, "shared_expert_intermediate_size": tI, "norm_topk_prob": true,
				"mlp_only_layers": []int{0}},
			build: func(s *memSource, l int, r *rand.Rand) {
				p := fmt.Sprintf("model.layers.%d.mlp.", l)
				routerFor(s, p+"gate.weight", r)
				perExpert(s, l, 0.5)
				g, u, d := mlpOf(s, l)
				s.add(p+"shared_expert.gate_proj.weight", g, tI, tH)
				s.add(p+"shared_expert.up_proj.weight", u, tI, tH)
				s.add(p+"shared_expert.down_proj.weight", d, tH, tI)
				s.add(p+"shared_expert_gate.weight", make([]float32, tH), 1, tH)
			}},
		{name: "qwen2_moe_fused", base: "qwen2", sparse: all,
			cfg: map[string]any{"model_type": "qwen2_moe", "num_experts": tE, "num_experts_per_tok": 1,
				"moe_intermediate_size": tI, "shared_expert_intermediate_size": tI, "norm_topk_prob": true},
			build: func(s *memSource, l int, r *rand.Rand) {
				p := fmt.Sprintf("model.layers.%d.mlp.", l)
				routerFor(s, p+"gate.weight", r)
				fused(s, l, 0.5)
				g, u, d := mlpOf(s, l)
				s.add(p+"shared_expert.gate_proj.weight", g, tI, tH)
				s.add(p+"shared_expert.up_proj.weight", u, tI, tH)
				s.add(p+"shared_expert.down_proj.weight", d, tH, tI)
				s.add(p+"shared_expert_gate.weight", make([]float32, tH), 1, tH)
			}},
		{name: "qwen3_moe", base: "qwen3", sparse: []bool{false, true, false},
			cfg: map[string]any{"model_type": "qwen3_moe", "num_experts": tE, "num_experts_per_tok": 2,
				"moe_intermediate_size": tI, "norm_topk_prob": true, "decoder_sparse_step": 2},
			build: func(s *memSource, l int, r *rand.Rand) {
				routerFor(s, fmt.Sprintf("model.layers.%d.mlp.gate.weight", l), r)
				perExpert(s, l, 1)
			}},
		{name: "qwen3_moe_fused", base: "qwen3", sparse: all,
			cfg: map[string]any{"model_type": "qwen3_moe", "num_experts": tE, "num_experts_per_tok": 4,
				"moe_intermediate_size": tI, "norm_topk_prob": true},
			build: func(s *memSource, l int, r *rand.Rand) {
				routerFor(s, fmt.Sprintf("model.layers.%d.mlp.gate.weight", l), r)
				fused(s, l, 1)
			}},
		// Two shared experts make one MLP of twice the intermediate size:
		// the dense MLP twice over, each half with down_proj quartered.
		{name: "deepseek", base: "llama", sparse: []bool{false, true, true},
			cfg: map[string]any{"model_type": "deepseek", "n_routed_experts": tE, "n_shared_experts": 2,
				"num_experts_per_tok": 2, "moe_intermediate_size": tI, "first_k_dense_replace": 1,
				"moe_layer_freq": 1, "norm_topk_prob": true, "scoring_func": "softmax"},
			build: func(s *memSource, l int, r *rand.Rand) {
				p := fmt.Sprintf("model.layers.%d.mlp.", l)
				routerFor(s, p+"gate.weight", r)
				perExpert(s, l, 0.5)
				g, u, d := mlpOf(s, l)
				q := scaled(d, 0.25)
				down := make([]float32, 0, 2*len(d))
				for row := range tH {
					down = append(down, q[row*tI:(row+1)*tI]...)
					down = append(down, q[row*tI:(row+1)*tI]...)
				}
				s.add(p+"shared_experts.gate_proj.weight", stack(g, g), 2*tI, tH)
				s.add(p+"shared_experts.up_proj.weight", stack(u, u), 2*tI, tH)
				s.add(p+"shared_experts.down_proj.weight", down, tH, 2*tI)
			}},
	}
}

// moeModel builds case c from the dense model: its config.json and tensors.
func (c moeCase) model(dense *memSource, denseCfg map[string]any) (*memSource, []byte) {
	s := dense.clone()
	r := rand.New(rand.NewPCG(42, 1))
	for l, sp := range c.sparse {
		if sp {
			c.build(s, l, r)
			dropDense(s, l)
		}
	}
	cfg := map[string]any{}
	for k, v := range denseCfg {
		cfg[k] = v
	}
	for k, v := range c.cfg {
		cfg[k] = v
	}
	raw, _ := json.Marshal(cfg)
	return s, raw
}

var identityIDs = [][]int{{1, 5, 9, 33, 2, 71, 71, 12, 90, 4, 60, 17, 3}, {7, 8}, {95, 0, 44, 44, 44, 10, 81}}

// TestMoEIdentity builds, for each family and layout, a mixture of experts
// whose experts are all copies of a dense model's MLP (shared experts and
// routed ones scaled to sum to one MLP): its log-likelihoods must be the
// dense model's, whatever the router chooses.
func TestMoEIdentity(t *testing.T) {
	for _, c := range moeCases() {
		t.Run(c.name, func(t *testing.T) {
			dense, dcfg := denseModel(c.base, 3)
			draw, _ := json.Marshal(dcfg)
			dm, err := Load(draw, dense, Options{})
			if err != nil {
				t.Fatal(err)
			}
			src, cfg := c.model(dense, dcfg)
			mm, err := Load(cfg, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i, sp := range c.sparse {
				if (mm.layers[i].moe != nil) != sp {
					t.Fatalf("layer %d: sparse %v, want %v", i, mm.layers[i].moe != nil, sp)
				}
			}
			want, err := dm.LogProbsBatch(identityIDs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mm.LogProbsBatch(identityIDs)
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for s := range want {
				for i := range want[s] {
					worst = max(worst, math.Abs(got[s][i]-want[s][i]))
				}
			}
			t.Logf("%s: max |Δ log p| %.3g", c.name, worst)
			if worst > 1e-5 {
				t.Errorf("log-likelihoods differ from the dense model's by %.3g", worst)
			}
			// The routing must not be trivial: different tokens go to
			// different experts.
			routes, err := mm.Route(identityIDs[0])
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int]bool{}
			for _, lr := range routes {
				for _, e := range lr.Experts {
					seen[e[0]] = true
				}
			}
			if len(seen) < 2 {
				t.Errorf("every token went to expert %v first", seen)
			}
		})
	}
}

// TestMoEOneExpertDiffers checks that the routing matters: when one expert
// differs from the others the model changes exactly where a token was
// routed to it.
func TestMoEOneExpertDiffers(t *testing.T) {
	c := moeCases()[0] // mixtral, legacy layout
	dense, dcfg := denseModel(c.base, 3)
	src, cfg := c.model(dense, dcfg)
	base, err := Load(cfg, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := identityIDs[0]
	routes, err := base.Route(ids)
	if err != nil {
		t.Fatal(err)
	}
	// Find an expert that layer 2 (the last) never chooses, and one it does.
	used := map[int]bool{}
	for _, e := range routes[2].Experts {
		used[e[0]], used[e[1]] = true, true
	}
	unused := -1
	for j := range tE {
		if !used[j] {
			unused = j
		}
	}
	for _, c := range []struct {
		expert int
		change bool
	}{{unused, false}, {routes[2].Experts[0][0], true}} {
		if c.expert < 0 {
			continue
		}
		mod := src.clone()
		name := fmt.Sprintf("model.layers.2.block_sparse_moe.experts.%d.w2.weight", c.expert)
		mod.add(name, scaled(mod.get(name), 3), tH, tI)
		m, err := Load(cfg, mod, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := base.Logits(ids)
		b, _ := m.Logits(ids)
		if d := relErr(b, a); (d > 0) != c.change {
			t.Errorf("expert %d changed: logits differ by %.3g, want a change %v", c.expert, d, c.change)
		}
	}
}

// TestRoute checks what Route reports: the sparse layers in order, the top
// k of the router's probabilities in descending order, and their weights,
// renormalised (Mixtral, and Qwen3-MoE with norm_topk_prob) or not.
func TestRoute(t *testing.T) {
	for _, c := range []struct {
		idx  int
		norm bool
	}{{0, true}, {4, false}} {
		mc := moeCases()[c.idx]
		mc.cfg["norm_topk_prob"] = c.norm
		dense, dcfg := denseModel(mc.base, 3)
		src, cfg := mc.model(dense, dcfg)
		m, err := Load(cfg, src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ids := identityIDs[0]
		routes, err := m.Route(ids)
		if err != nil {
			t.Fatal(err)
		}
		E, K := m.NumExperts()
		var sparse []int
		for i, sp := range mc.sparse {
			if sp {
				sparse = append(sparse, i)
			}
		}
		if len(routes) != len(sparse) || E != tE {
			t.Fatalf("%s: %d routed layers, want %d; %d experts", mc.name, len(routes), len(sparse), E)
		}
		for ri, lr := range routes {
			l := lr.Layer
			if l != sparse[ri] {
				t.Fatalf("route %d is layer %d, want %d", ri, l, sparse[ri])
			}
			for tok := range ids {
				ex, w, p := lr.Experts[tok], lr.Weights[tok], lr.Probs[tok]
				if len(ex) != K || len(w) != K || len(p) != E {
					t.Fatalf("layer %d token %d: %d experts, %d weights, %d probs", l, tok, len(ex), len(w), len(p))
				}
				var sum, psum float64
				for i, j := range ex {
					sum += float64(w[i])
					if i > 0 && p[j] > p[ex[i-1]] {
						t.Errorf("layer %d token %d: experts %v not in descending order of %v", l, tok, ex, p)
					}
					for q := range p {
						if !slices.Contains(ex, q) && p[q] > p[j] {
							t.Errorf("layer %d token %d: expert %d (p %g) left out for %d (p %g)", l, tok, q, p[q], j, p[j])
						}
					}
					want := p[j]
					if c.norm {
						var s float32
						for _, e := range ex {
							s += p[e]
						}
						want /= s
					}
					if math.Abs(float64(w[i]-want)) > 1e-7 {
						t.Errorf("layer %d token %d: weight %g, want %g", l, tok, w[i], want)
					}
				}
				for _, x := range p {
					psum += float64(x)
				}
				if math.Abs(psum-1) > 1e-5 || (c.norm && math.Abs(sum-1) > 1e-5) || (!c.norm && sum > 1-1e-3) {
					t.Errorf("layer %d token %d: probabilities sum to %g, weights to %g", l, tok, psum, sum)
				}
			}
		}
	}
	dense, dcfg := denseModel("llama", 3)
	raw, _ := json.Marshal(dcfg)
	m, err := Load(raw, dense, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := m.Route(identityIDs[0]); err != nil || len(r) != 0 {
		t.Errorf("dense model: Route gives %d layers, error %v", len(r), err)
	}
	if e, k := m.NumExperts(); e != 0 || k != 0 {
		t.Errorf("dense model: NumExperts %d, %d", e, k)
	}
}

func TestTopK(t *testing.T) {
	for _, c := range []struct {
		p    []float32
		k    int
		want []int
	}{
		{[]float32{0.1, 0.4, 0.2, 0.3}, 2, []int{1, 3}},
		{[]float32{0.1, 0.4, 0.2, 0.3}, 4, []int{1, 3, 2, 0}},
		{[]float32{0.25, 0.25, 0.25, 0.25}, 2, []int{0, 1}},
		{[]float32{0.1, 0.3, 0.3, 0.3}, 2, []int{1, 2}},
		{[]float32{0.9, 0.05, 0.05}, 1, []int{0}},
		{[]float32{0.05, 0.05, 0.9}, 1, []int{2}},
	} {
		if got := topK(c.p, c.k); !slices.Equal(got, c.want) {
			t.Errorf("topK(%v, %d) = %v, want %v", c.p, c.k, got, c.want)
		}
	}
}

// TestMoELoadErrors checks that checkpoints whose expert tensors are
// missing or mis-shaped, or contradict config.json, are refused with an
// error naming the tensor or the field.
func TestMoELoadErrors(t *testing.T) {
	cs := moeCases()
	for _, c := range []struct {
		name string
		idx  int
		edit func(s *memSource, cfg map[string]any)
		want string
	}{
		{"missing expert", 0, func(s *memSource, _ map[string]any) {
			s.del("model.layers.1.block_sparse_moe.experts.3.w2.weight")
		}, "model.layers.1.block_sparse_moe.experts.3.w2.weight is missing"},
		{"more experts than config", 0, func(s *memSource, cfg map[string]any) { cfg["num_local_experts"] = 3 },
			"model.layers.0.block_sparse_moe.gate.weight has shape [4 32], config.json implies [3 32]"},
		{"extra expert tensors", 2, func(s *memSource, cfg map[string]any) {
			s.add("model.layers.1.mlp.experts.4.gate_proj.weight", make([]float32, tI*tH), tI, tH)
		}, "model.layers.1.mlp.experts.4.gate_proj.weight is present, but config.json's num_experts is 4"},
		{"fused shape", 1, func(s *memSource, cfg map[string]any) { cfg["intermediate_size"] = 40 },
			"model.layers.0.mlp.experts.gate_up_proj has shape [4 96 32], config.json implies [4 80 32]"},
		{"fused down missing", 1, func(s *memSource, cfg map[string]any) { s.del("model.layers.2.mlp.experts.down_proj") },
			"model.layers.2.mlp.experts.down_proj is missing"},
		{"fused gate_up missing", 3, func(s *memSource, cfg map[string]any) { s.del("model.layers.1.mlp.experts.gate_up_proj") },
			"model.layers.1.mlp.experts.gate_up_proj is missing"},
		{"both layouts", 0, func(s *memSource, cfg map[string]any) {
			s.add("model.layers.0.mlp.gate.weight", make([]float32, tE*tH), tE, tH)
		}, "checkpoint mixes two layouts"},
		{"shared expert missing", 2, func(s *memSource, cfg map[string]any) { s.del("model.layers.2.mlp.shared_expert_gate.weight") },
			"model.layers.2.mlp.shared_expert_gate.weight is missing"},
		{"shared size", 6, func(s *memSource, cfg map[string]any) { cfg["n_shared_experts"] = 1 },
			"model.layers.1.mlp.shared_experts.gate_proj.weight has shape [96 32], config.json implies [48 32]"},
		{"dense layer with router", 2, func(s *memSource, cfg map[string]any) { cfg["mlp_only_layers"] = []int{0, 1} },
			"layer 1 has a router, but config.json makes it dense (mlp_only_layers lists 1)"},
		{"sparse layer without router", 4, func(s *memSource, cfg map[string]any) { cfg["decoder_sparse_step"] = 1 },
			"model.layers.0.mlp.gate.weight is missing"},
		{"shared expert not in config", 6, func(s *memSource, cfg map[string]any) { delete(cfg, "n_shared_experts") },
			"tensor model.layers.1.mlp.shared_experts.gate_proj.weight is present, but config.json gives deepseek no shared expert (n_shared_experts is 0 or unset)"},
		{"shared expert in qwen3", 4, func(s *memSource, cfg map[string]any) {
			s.add("model.layers.1.mlp.shared_expert_gate.weight", make([]float32, tH), 1, tH)
		}, "tensor model.layers.1.mlp.shared_expert_gate.weight is present, but config.json gives qwen3_moe no shared expert"},
		{"top k", 0, func(s *memSource, cfg map[string]any) { cfg["num_experts_per_tok"] = 5 },
			"num_experts_per_tok 5 must be between 1 and num_local_experts 4"},
		{"scoring", 6, func(s *memSource, cfg map[string]any) { cfg["scoring_func"] = "sigmoid" },
			`scoring_func "sigmoid" is not supported`},
		{"sparse step", 4, func(s *memSource, cfg map[string]any) { cfg["decoder_sparse_step"] = 0 },
			"decoder_sparse_step must be a positive integer"},
		{"deepseek k", 6, func(s *memSource, cfg map[string]any) { delete(cfg, "num_experts_per_tok") },
			"num_experts_per_tok is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mc := cs[c.idx]
			dense, dcfg := denseModel(mc.base, 3)
			src, raw := mc.model(dense, dcfg)
			var cfg map[string]any
			json.Unmarshal(raw, &cfg)
			c.edit(src, cfg)
			raw, _ = json.Marshal(cfg)
			_, err := Load(raw, src, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestMoEConfig checks which layers each family makes sparse, and the
// fields and defaults of its routing.
func TestMoEConfig(t *testing.T) {
	base := `"vocab_size": 96, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 6, "num_attention_heads": 4`
	for _, c := range []struct {
		cfg                       string
		sparse                    string
		experts, k, inter, shared int
		norm, sharedGate, qkvBias bool
	}{
		{`"model_type": "mixtral"`, "111111", 8, 2, 48, 0, true, false, false},
		{`"architectures": ["MixtralForCausalLM"], "num_local_experts": 4, "num_experts_per_tok": 1`, "111111", 4, 1, 48, 0, true, false, false},
		{`"model_type": "qwen2_moe"`, "111111", 60, 4, 1408, 5632, false, true, true},
		{`"model_type": "qwen2_moe", "qkv_bias": false, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16,
			"shared_expert_intermediate_size": 24, "norm_topk_prob": true, "decoder_sparse_step": 2, "mlp_only_layers": [3]`,
			"010001", 4, 2, 16, 24, true, true, false},
		{`"model_type": "qwen3_moe", "mlp_only_layers": [0, 5]`, "011110", 128, 8, 768, 0, false, false, false},
		{`"architectures": ["Qwen3MoeForCausalLM"], "decoder_sparse_step": 3`, "001001", 128, 8, 768, 0, false, false, false},
		{`"model_type": "deepseek", "n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 2,
			"moe_intermediate_size": 16, "first_k_dense_replace": 1, "moe_layer_freq": 2, "norm_topk_prob": true`,
			"001010", 4, 2, 16, 32, true, false, false},
		// DeepSeek renormalises only when it chooses more than one expert.
		{`"model_type": "deepseek", "n_routed_experts": 4, "num_experts_per_tok": 1, "norm_topk_prob": true`,
			"111111", 4, 1, 1407, 0, false, false, false},
		{`"model_type": "deepseek"`, "000000", 0, 0, 0, 0, false, false, false},
	} {
		cfg, err := parseConfig([]byte("{" + base + ", " + c.cfg + "}"))
		if err != nil {
			t.Errorf("%s: %v", c.cfg, err)
			continue
		}
		m := cfg.moe
		if m == nil {
			if c.experts != 0 {
				t.Errorf("%s: dense, want %d experts", c.cfg, c.experts)
			}
			continue
		}
		var sparse []byte
		for _, s := range m.sparse {
			sparse = append(sparse, map[bool]byte{true: '1', false: '0'}[s])
		}
		if string(sparse) != c.sparse || m.experts != c.experts || m.topK != c.k || m.inter != c.inter ||
			m.shared != c.shared || m.norm != c.norm || m.sharedGate != c.sharedGate || cfg.qkvBias != c.qkvBias {
			t.Errorf("%s:\ngot  sparse %s experts %d k %d inter %d shared %d norm %v gate %v qkv bias %v\nwant sparse %s experts %d k %d inter %d shared %d norm %v gate %v qkv bias %v",
				c.cfg, sparse, m.experts, m.topK, m.inter, m.shared, m.norm, m.sharedGate, cfg.qkvBias,
				c.sparse, c.experts, c.k, c.inter, c.shared, c.norm, c.sharedGate, c.qkvBias)
		}
	}
}
