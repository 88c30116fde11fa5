package model

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/gomerge/gomerge/tensor"
)

// moeConfig describes the sparse MLP blocks of a mixture of experts, with
// the config.json names of the fields it came from for error messages.
type moeConfig struct {
	experts    int  // routed experts per MoE layer
	topK       int  // experts per token
	inter      int  // intermediate size of each routed expert
	norm       bool // renormalise the top-k weights to sum to 1
	shared     int  // intermediate size of the shared expert, 0 = none
	sharedGate bool // Qwen2-MoE: the shared expert is scaled by sigmoid(shared_expert_gate · x)
	sparse     []bool
	step       int   // decoder_sparse_step (Qwen)
	dense      []int // mlp_only_layers (Qwen)
	firstDense int   // first_k_dense_replace (DeepSeek)
	freq       int   // moe_layer_freq (DeepSeek)

	expertsKey, interKey, sharedKey string
}

// denseWhy names the config.json fields that make layer i dense.
func (m *moeConfig) denseWhy(i int) string {
	switch {
	case slices.Contains(m.dense, i):
		return fmt.Sprintf("mlp_only_layers lists %d", i)
	case (i+1)%m.step != 0:
		return fmt.Sprintf("decoder_sparse_step is %d", m.step)
	case i < m.firstDense:
		return fmt.Sprintf("first_k_dense_replace is %d", m.firstDense)
	default:
		return fmt.Sprintf("moe_layer_freq is %d", m.freq)
	}
}

// moeFor reads the MoE fields of the four families transformers (or, for
// DeepSeek v1, the model's remote code) implements:
//
//   - mixtral: num_local_experts, num_experts_per_tok; every layer is sparse
//     and the top-k weights are always renormalised.
//   - qwen2_moe: num_experts, moe_intermediate_size, a shared expert of
//     shared_expert_intermediate_size gated by a sigmoid; a layer is sparse
//     unless it is in mlp_only_layers or (layer+1) % decoder_sparse_step != 0;
//     norm_topk_prob (default false) renormalises.
//   - qwen3_moe: Qwen2-MoE's routing without the shared expert.
//   - deepseek (v1, DeepseekForCausalLM): n_routed_experts (none: a dense
//     model), n_shared_experts shared experts fused into one MLP of
//     n_shared_experts * moe_intermediate_size; a layer is sparse when
//     layer >= first_k_dense_replace and layer % moe_layer_freq == 0;
//     norm_topk_prob renormalises only when num_experts_per_tok > 1.
func (c *config) moeFor(f *fields) error {
	m := &moeConfig{step: 1, freq: 1}
	switch c.family {
	case "mixtral":
		m.expertsKey, m.interKey = "num_local_experts", "intermediate_size"
		m.experts = f.int("num_local_experts", 8)
		m.topK = f.int("num_experts_per_tok", 2)
		m.inter = c.inter
		m.norm = true
	case "qwen2_moe", "qwen3_moe":
		m.expertsKey, m.interKey = "num_experts", "moe_intermediate_size"
		m.experts = f.int("num_experts", map[bool]int{true: 60, false: 128}[c.family == "qwen2_moe"])
		m.topK = f.int("num_experts_per_tok", map[bool]int{true: 4, false: 8}[c.family == "qwen2_moe"])
		m.inter = f.int("moe_intermediate_size", map[bool]int{true: 1408, false: 768}[c.family == "qwen2_moe"])
		m.norm = f.bool("norm_topk_prob", false)
		m.step = f.int("decoder_sparse_step", 1)
		m.dense = f.intList("mlp_only_layers")
		if c.family == "qwen2_moe" {
			m.sharedKey = "shared_expert_intermediate_size"
			m.shared = f.int("shared_expert_intermediate_size", 5632)
			m.sharedGate = true
		}
	case "deepseek":
		if !f.has("n_routed_experts") {
			return nil // DeepseekConfig's default: every layer dense
		}
		m.expertsKey, m.interKey, m.sharedKey = "n_routed_experts", "moe_intermediate_size", "n_shared_experts"
		m.experts = f.int("n_routed_experts", 0)
		if !f.has("num_experts_per_tok") {
			return fmt.Errorf("%w: num_experts_per_tok is missing (n_routed_experts is %d)", ErrConfig, m.experts)
		}
		m.topK = f.int("num_experts_per_tok", 0)
		m.inter = f.int("moe_intermediate_size", 1407)
		m.shared = f.int("n_shared_experts", 0) * m.inter
		m.norm = f.bool("norm_topk_prob", false) && m.topK > 1
		m.firstDense = f.int("first_k_dense_replace", 0)
		m.freq = f.int("moe_layer_freq", 1)
		if s := f.str("scoring_func", "softmax"); s != "softmax" {
			return fmt.Errorf("%w: scoring_func %q is not supported (DeepSeek v1 knows only softmax)", ErrConfig, s)
		}
	default:
		return f.err
	}
	if f.err != nil {
		return f.err
	}
	switch {
	case m.experts <= 0 || m.experts > 1<<16:
		return fmt.Errorf("%w: %s must be a positive integer, got %d", ErrConfig, m.expertsKey, m.experts)
	case m.topK <= 0 || m.topK > m.experts:
		return fmt.Errorf("%w: num_experts_per_tok %d must be between 1 and %s %d", ErrConfig, m.topK, m.expertsKey, m.experts)
	case m.inter <= 0 || m.inter > 1<<24:
		return fmt.Errorf("%w: %s must be a positive integer, got %d", ErrConfig, m.interKey, m.inter)
	case m.shared < 0 || m.shared > 1<<24:
		return fmt.Errorf("%w: %s gives a shared expert of intermediate size %d", ErrConfig, m.sharedKey, m.shared)
	case m.step <= 0:
		return fmt.Errorf("%w: decoder_sparse_step must be a positive integer, got %d", ErrConfig, m.step)
	case m.freq <= 0:
		return fmt.Errorf("%w: moe_layer_freq must be a positive integer, got %d", ErrConfig, m.freq)
	case m.firstDense < 0:
		return fmt.Errorf("%w: first_k_dense_replace must not be negative, got %d", ErrConfig, m.firstDense)
	}
	m.sparse = make([]bool, c.layers)
	for i := range m.sparse {
		m.sparse[i] = !slices.Contains(m.dense, i) && (i+1)%m.step == 0 && i >= m.firstDense && i%m.freq == 0
	}
	c.moe = m
	return nil
}

// intList reads a list of non-negative integers (mlp_only_layers).
func (f *fields) intList(key string) []int {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		f.fail(key, "want a list of integers, got %v", v)
		return nil
	}
	out := make([]int, 0, len(list))
	for _, e := range list {
		n, ok := e.(json.Number)
		x, err := n.Int64()
		if !ok || err != nil || x < 0 || x > 1<<40 {
			f.fail(key, "bad entry %v", e)
			return nil
		}
		out = append(out, int(x))
	}
	return out
}

// moeLayer is one sparse MLP block: a router and the experts' matrices.
// Where the checkpoint stacks the experts (transformers 5's gate_up_proj
// and down_proj), gate, up and down are views into the stacked tensors.
type moeLayer struct {
	router         *matrix   // [experts, hidden]
	gate, up, down []*matrix // per expert: [inter, hidden], [inter, hidden], [hidden, inter]
	// The shared expert (nil when there is none) and Qwen2-MoE's
	// shared_expert_gate [1, hidden].
	sGate, sUp, sDown *matrix
	sScale            *matrix
}

// view returns rows [lo, hi) of w, sharing its memory.
func (w *matrix) view(lo, hi int) *matrix {
	v := &matrix{rows: hi - lo, cols: w.cols, dt: w.dt, bf16dot: w.bf16dot}
	if w.f32 != nil {
		v.f32 = w.f32[lo*w.cols : hi*w.cols]
	} else {
		sz := w.dt.Size()
		v.raw = w.raw[lo*w.cols*sz : hi*w.cols*sz]
	}
	return v
}

// has reports whether src holds a tensor (without recording an error).
func (l *loader) has(name string) bool {
	_, ok := l.src.Tensor(name)
	return ok
}

// moeLayer loads layer p's sparse block in whichever layout the checkpoint
// has: Mixtral's per-expert block_sparse_moe.experts.J.w1/w3/w2, the
// per-expert mlp.experts.J.{gate,up,down}_proj of Qwen-MoE and DeepSeek,
// or transformers 5's stacked mlp.experts.gate_up_proj [E, 2I, H] (each
// expert's gate rows, then its up rows) and mlp.experts.down_proj
// [E, H, I].
func (l *loader) moeLayer(c *config, p string) *moeLayer {
	m, H := c.moe, c.hidden
	E, I := m.experts, m.inter
	y := &moeLayer{gate: make([]*matrix, E), up: make([]*matrix, E), down: make([]*matrix, E)}
	legacy := c.family == "mixtral" && l.has(p+"block_sparse_moe.gate.weight")
	if legacy && l.has(p+"mlp.gate.weight") {
		l.fail("both %sblock_sparse_moe.gate.weight and %smlp.gate.weight are present: the checkpoint mixes two layouts", p, p)
		return nil
	}
	var expert func(j int) string
	switch {
	case legacy:
		y.router = l.matrix(p+"block_sparse_moe.gate.weight", E, H)
		for j := range E {
			e := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, j)
			y.gate[j] = l.matrix(e+"w1.weight", I, H)
			y.up[j] = l.matrix(e+"w3.weight", I, H)
			y.down[j] = l.matrix(e+"w2.weight", H, I)
		}
		expert = func(j int) string { return fmt.Sprintf("%sblock_sparse_moe.experts.%d.w1.weight", p, j) }
	case l.has(p+"mlp.experts.gate_up_proj") || l.has(p+"mlp.experts.down_proj"):
		y.router = l.matrix(p+"mlp.gate.weight", E, H)
		gu := l.stacked(p+"mlp.experts.gate_up_proj", E, 2*I, H)
		down := l.stacked(p+"mlp.experts.down_proj", E, H, I)
		if l.err != nil {
			return nil
		}
		for j := range E {
			y.gate[j] = gu.view(2*j*I, (2*j+1)*I)
			y.up[j] = gu.view((2*j+1)*I, (2*j+2)*I)
			y.down[j] = down.view(j*H, (j+1)*H)
		}
	default:
		y.router = l.matrix(p+"mlp.gate.weight", E, H)
		for j := range E {
			e := fmt.Sprintf("%smlp.experts.%d.", p, j)
			y.gate[j] = l.matrix(e+"gate_proj.weight", I, H)
			y.up[j] = l.matrix(e+"up_proj.weight", I, H)
			y.down[j] = l.matrix(e+"down_proj.weight", H, I)
		}
		expert = func(j int) string { return fmt.Sprintf("%smlp.experts.%d.gate_proj.weight", p, j) }
	}
	if expert != nil && l.err == nil && l.has(expert(E)) {
		l.fail("tensor %s is present, but config.json's %s is %d", expert(E), m.expertsKey, E)
	}
	if l.has(p + "mlp.gate_proj.weight") {
		l.fail("tensor %smlp.gate_proj.weight (a dense MLP) is present in a layer config.json makes sparse", p)
	}
	if m.shared == 0 {
		for _, s := range []string{"mlp.shared_expert.gate_proj.weight", "mlp.shared_experts.gate_proj.weight", "mlp.shared_expert_gate.weight"} {
			if l.has(p + s) {
				why := ""
				if m.sharedKey != "" {
					why = " (" + m.sharedKey + " is 0 or unset)"
				}
				l.fail("tensor %s%s is present, but config.json gives %s no shared expert%s", p, s, c.family, why)
			}
		}
	}
	if m.shared > 0 {
		s := p + "mlp.shared_expert."
		if c.family == "deepseek" {
			s = p + "mlp.shared_experts."
		}
		y.sGate = l.matrix(s+"gate_proj.weight", m.shared, H)
		y.sUp = l.matrix(s+"up_proj.weight", m.shared, H)
		y.sDown = l.matrix(s+"down_proj.weight", H, m.shared)
		if m.sharedGate {
			y.sScale = l.matrix(p+"mlp.shared_expert_gate.weight", 1, H)
		}
	}
	if l.err != nil {
		return nil
	}
	return y
}

// fail records an error unless one is recorded already.
func (l *loader) fail(format string, args ...any) {
	if l.err == nil {
		l.err = fmt.Errorf(format, args...)
	}
}

// route is how one token was routed: its chosen experts, highest weight
// first, and the weights their outputs are scaled by.
type route struct {
	experts []int
	weights []float32
}

// moe computes the sparse block of layer li for the n normalized rows of
// h into out [n, hidden], as transformers does: router logits, softmax in
// float32, top-k, optional renormalisation; each expert runs over the
// tokens routed to it, in expert order, its output scaled by the token's
// weight and added; then the shared expert, if any. If probe asks for
// routes it receives them with the router's probabilities [n, experts].
func (m *Model) moe(li int, y *moeLayer, h, out []float32, n int, p *probe) {
	c, mc := m.cfg, m.cfg.moe
	H, E, K := c.hidden, mc.experts, mc.topK
	logits := make([]float32, n*E)
	matmul(m.threads, logits, h, n, y.router, nil)
	probs := make([]float32, n*E)
	routes := make([]route, n)
	chosen := make([][]int, E) // per expert: the tokens routed to it
	for t := range n {
		pr := probs[t*E : (t+1)*E]
		softmax32(pr, logits[t*E:(t+1)*E])
		r := route{experts: topK(pr, K), weights: make([]float32, K)}
		var sum float32
		for i, j := range r.experts {
			r.weights[i] = pr[j]
			sum += pr[j]
		}
		if mc.norm {
			for i := range r.weights {
				r.weights[i] /= sum
			}
		}
		for _, j := range r.experts {
			chosen[j] = append(chosen[j], t)
		}
		routes[t] = r
	}
	clear(out[:n*H])
	var x, g, u, o []float32
	for j, toks := range chosen {
		if len(toks) == 0 {
			continue
		}
		k := len(toks)
		x = grow(x, k*H)
		for i, t := range toks {
			copy(x[i*H:(i+1)*H], h[t*H:(t+1)*H])
		}
		g, u, o = grow(g, k*mc.inter), grow(u, k*mc.inter), grow(o, k*H)
		m.mlp(x, g, u, o, k, y.gate[j], y.up[j], y.down[j])
		for i, t := range toks {
			w := routes[t].weights[slices.Index(routes[t].experts, j)]
			tensor.Axpy(out[t*H:(t+1)*H], w, o[i*H:(i+1)*H])
		}
	}
	if y.sGate != nil {
		g, u, o = grow(g, n*mc.shared), grow(u, n*mc.shared), grow(o, n*H)
		m.mlp(h, g, u, o, n, y.sGate, y.sUp, y.sDown)
		var gate []float32
		if y.sScale != nil {
			gate = make([]float32, n)
			matmul(m.threads, gate, h, n, y.sScale, nil)
		}
		for t := range n {
			row := o[t*H : (t+1)*H]
			if gate != nil {
				tensor.Scale(row, float32(1/(1+math.Exp(-float64(gate[t])))))
			}
			tensor.Add(out[t*H:(t+1)*H], row)
		}
	}
	if p != nil && p.route != nil {
		p.route(li, routes, probs)
	}
}

// mlp computes down(act(gate·x) * up·x) for the n rows of x into o, with
// g and u as scratch of n*gate.rows floats.
func (m *Model) mlp(x, g, u, o []float32, n int, gate, up, down *matrix) {
	I := gate.rows
	matmul(m.threads, g, x, n, gate, nil)
	matmul(m.threads, u, x, n, up, nil)
	act := activate
	if gate.bf16dot {
		act = activateFast
	}
	m.rows(n, func(t int) { act(m.cfg.act, g[t*I:(t+1)*I], u[t*I:(t+1)*I]) })
	matmul(m.threads, o, g, n, down, nil)
}

// grow returns buf resliced to n floats, reallocated if too short.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// softmax32 sets dst to softmax(x), computed in float64 and rounded to
// float32 (transformers computes it in float32).
func softmax32(dst, x []float32) {
	best := math.Inf(-1)
	for _, v := range x {
		best = max(best, float64(v))
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v) - best)
	}
	for i, v := range x {
		dst[i] = float32(math.Exp(float64(v)-best) / sum)
	}
}

// topK returns the indices of the k largest values of p, largest first,
// the lower index first among equal values.
func topK(p []float32, k int) []int {
	idx := make([]int, 0, k+1)
	for j, v := range p {
		i := len(idx)
		for i > 0 && v > p[idx[i-1]] {
			i--
		}
		if i < k {
			idx = slices.Insert(idx, i, j)
			if len(idx) > k {
				idx = idx[:k]
			}
		}
	}
	return idx
}

// LayerRoute is how one sparse layer of a mixture of experts routed each
// token of a sequence.
type LayerRoute struct {
	// Layer is the decoder layer's index.
	Layer int
	// Experts[t] lists the experts token t was sent to, highest weight
	// first (num_experts_per_tok of them).
	Experts [][]int
	// Weights[t][i] scales the output of Experts[t][i]: the router's
	// probability, renormalised over the chosen experts where the model
	// renormalises.
	Weights [][]float32
	// Probs[t] is the router's softmax over all experts.
	Probs [][]float32
}

// NumExperts returns the number of routed experts in each sparse layer and
// how many each token is sent to; 0, 0 for a dense model.
func (m *Model) NumExperts() (experts, perToken int) {
	if m.cfg.moe == nil {
		return 0, 0
	}
	return m.cfg.moe.experts, m.cfg.moe.topK
}

// Route runs ids through the model and returns, for each sparse layer in
// order, the experts every token was routed to and their weights. A dense
// model has no sparse layers: the result is empty.
func (m *Model) Route(ids []int) ([]LayerRoute, error) {
	if err := m.check(ids); err != nil {
		return nil, err
	}
	var out []LayerRoute
	E := 0
	if m.cfg.moe != nil {
		E = m.cfg.moe.experts
	}
	p := &probe{route: func(li int, rs []route, probs []float32) {
		lr := LayerRoute{Layer: li}
		for t, r := range rs {
			lr.Experts = append(lr.Experts, r.experts)
			lr.Weights = append(lr.Weights, r.weights)
			lr.Probs = append(lr.Probs, probs[t*E:(t+1)*E:(t+1)*E])
		}
		out = append(out, lr)
	}}
	m.forward([]seg{{ids: ids, c: m.newCache()}}, p)
	return out, nil
}
