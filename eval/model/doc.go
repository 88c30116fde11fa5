// Package model is a CPU forward pass for decoder-only language models in
// Hugging Face's layout, enough to score text and to generate greedily:
// the inference engine behind gomerge's embedded evaluation.
//
// UseDevice hands the scoring methods of a dense model (LogProbs,
// LogProbsBatch, ContinuationLogProbs, TailLogProbs) to an Accelerator,
// such as internal/cuda's GPU device; the rest stays on the CPU.
//
// Open reads a model directory (config.json and safetensors weights); Load
// takes the bytes of a config.json and any safetensors.Source, so a merge
// result held in memory can be scored without writing it out. A *Model
// answers Logits and LogitsBatch (every position's logits), LogProbs and
// LogProbsBatch (log p(ids[i] | ids[:i]) without keeping the logits),
// ContinuationLogProbs (several continuations of one context, the context
// computed once), TailLogProbs (the log-probabilities and greediness of
// the last tokens of several sequences: what loglikelihood requests ask,
// at the least cost), Generate (greedy, with a key/value cache), Session (a
// growing sequence with its cache: Feed, Generate with a Sampler for
// temperature/top-k/top-p, streaming, stop tokens and cancellation, Rewind
// to reuse a re-rendered prompt's prefix) and HiddenStates (the residual
// stream entering every layer, as mergekit-moe's hidden gates read it).
//
// # Architectures
//
// config.json's model_type (or its architectures entry) selects the family:
//
//   - llama, mistral: RMSNorm, rotary embeddings, grouped-query attention,
//     SwiGLU; attention_bias and mlp_bias; Mistral's sliding_window.
//   - qwen2: biases on q, k and v. qwen3: per-head RMSNorm of q and k.
//   - gemma: embeddings scaled by sqrt(hidden_size), RMSNorm scaling by
//     1+w, gelu_pytorch_tanh, tied output layer.
//   - gemma2: also post-attention and pre/post-feedforward norms, attention
//     and final logit soft-capping, query_pre_attn_scalar, and a sliding
//     window on the layers layer_types names (by default every other layer,
//     starting with the first).
//   - gemma3_text (Gemma3ForCausalLM): Gemma2's layout with q/k norms, no
//     soft-capping by default, and a rope per layer type: sliding layers use
//     rope_local_base_freq (transformers 4) or rope_parameters
//     ["sliding_attention"] (transformers 5).
//   - Mixtures of experts, whose MLP is, in their sparse layers, a router and
//     experts: mixtral (Mistral's attention; the top num_experts_per_tok
//     of num_local_experts, always renormalised), qwen2_moe (Qwen2's
//     attention; num_experts of moe_intermediate_size, renormalised only
//     with norm_topk_prob, plus a shared expert scaled by
//     sigmoid(shared_expert_gate·x); decoder_sparse_step and mlp_only_layers
//     choose the sparse layers), qwen3_moe (Qwen3's attention, Qwen2-MoE's
//     routing without the shared expert) and deepseek (DeepSeek-MoE v1:
//     n_routed_experts, n_shared_experts fused into one MLP of
//     n_shared_experts × moe_intermediate_size, first_k_dense_replace and
//     moe_layer_freq; norm_topk_prob applies only when more than one expert
//     is chosen). The router's softmax is rounded to float32 as in
//     transformers. Experts may be stored one tensor each (Mixtral's
//     block_sparse_moe.experts.J.w1/w2/w3, or mlp.experts.J.gate_proj/…) or
//     stacked as transformers 5 writes them (mlp.experts.gate_up_proj
//     [E, 2I, H], each expert's gate rows then its up rows, and
//     mlp.experts.down_proj [E, H, I]); stacked experts are held once and
//     sliced, not copied. A checkpoint whose expert tensors are missing,
//     mis-shaped, more numerous than config.json says, or where config.json
//     makes a layer with a router dense, is refused with the tensor or field
//     named. Route reports every token's experts and weights.
//
// Both forms of config.json are read: transformers 4's rope_theta and
// rope_scaling (keyed "type" or "rope_type") and transformers 5's
// rope_parameters. Rope types default, linear and llama3 are supported; any
// other is an error wrapping ErrConfig that names config.json and the type.
// head_dim may differ from hidden_size / num_attention_heads. The output
// layer is the embedding when lm_head.weight is absent or
// tie_word_embeddings is true.
//
// # Numerics
//
// Weights may be stored as F32, BF16, F16 (or F64); all arithmetic is in
// float32 with float64 where it is cheap. Matrix products over eight or
// more tokens use, on CPUs with AVX-512, a packed product: 32 weight rows
// at a time are interleaved into a panel (and widened from 16 bits as they
// are packed), and a register tile of 8 tokens × 32 rows accumulates each
// output as one float32 sum in column order, with no horizontal sums.
// Fewer tokens (greedy generation), other CPUs and the purego tag take dot
// products that accumulate in float32 with fused
// multiply-adds (AVX2+FMA, eight lanes times eight independent sums, added
// at the end; a Go reference elsewhere). RMSNorm's mean of squares accumulates in float64. The
// softmaxes of attention and the log-softmax of LogProbs and
// TailLogProbs take float32 exponentials (Cephes' polynomial, relative
// error below 2e-7, AVX2 on amd64) summed in float32 within blocks of
// 1024 and in float64 across blocks: the vocabulary-wide work of a
// position stays in float32. Rotary angles are formed
// in float32 from float32 inverse frequencies, as transformers does. The
// embedding scale of the Gemma family is sqrt(hidden_size) rounded to
// float32 — transformers rounds it to the activation dtype, so a bfloat16 run
// of transformers differs from this by that rounding (and by its bfloat16
// activations).
//
// Against transformers 5.17 in float64 with eager attention
// (testdata/ref/eval), logits agree to max|a-b|/max|b| <= 3e-6 for every
// dense family (and to 2e-6 for the mixtures of experts in testdata/ref/moe,
// against a torch transcription of transformers' MoE blocks), with the weights in float32 and rounded to bfloat16 alike; the
// hidden states after every layer agree as well. Karpathy's stories260K,
// converted by ConvertLlama2C, generates greedily exactly what llama2.c's
// run.c prints.
//
// # Memory and speed
//
// By default every weight is widened to float32 at load. Options.Compact
// keeps BF16 and F16 matrices in 16 bits (half the memory); the packed
// product widens them while packing, once per 32 rows and 512 columns
// for the whole batch, so prompt scoring costs about the same (see
// bench/README.md); single-token generation, which reads every weight
// once per token, is memory-bound either way. Options.BF16Dot, on CPUs
// with AVX512_BF16, keeps BF16 matrices in 16 bits too and multiplies
// them as llama.cpp does there: the activations rounded to bfloat16, two
// products per lane summed by VDPBF16PS into float32 (results differ from
// the float32 path in the low bits; prompts of fewer than eight tokens
// take the float32 path). TailLogProbs, what package
// eval/local scores requests with, runs a context shared by several
// continuations once and the output layer only at the positions that
// predict a continuation token. Matrix products split the output rows among
// Options.Threads goroutines, attention splits sequences and heads.
package model
