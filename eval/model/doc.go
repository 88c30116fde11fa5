// Package model is a CPU forward pass for decoder-only language models in
// Hugging Face's layout, enough to score text and to generate greedily:
// the inference engine behind gomerge's embedded evaluation.
//
// Open reads a model directory (config.json and safetensors weights); Load
// takes the bytes of a config.json and any safetensors.Source, so a merge
// result held in memory can be scored without writing it out. A *Model
// answers Logits and LogitsBatch (every position's logits), LogProbs and
// LogProbsBatch (log p(ids[i] | ids[:i]) without keeping the logits),
// ContinuationLogProbs (several continuations of one context, the context
// computed once), Generate (greedy, with a key/value cache) and
// HiddenStates (the residual stream entering every layer, as mergekit-moe's
// hidden gates read it).
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
// float32 with float64 where it is cheap: matrix products accumulate in
// float32 with fused multiply-adds (AVX2+FMA on amd64, eight lanes times
// eight independent sums, added at the end; a Go reference elsewhere and
// under the purego tag), RMSNorm's mean of squares, the softmaxes and the
// log-softmax of LogProbs accumulate in float64. Rotary angles are formed
// in float32 from float32 inverse frequencies, as transformers does. The
// embedding scale of the Gemma family is sqrt(hidden_size) rounded to
// float32 — transformers rounds it to the activation dtype, so a bfloat16 run
// of transformers differs from this by that rounding (and by its bfloat16
// activations).
//
// Against transformers 5.17 in float64 with eager attention
// (testdata/ref/eval), logits agree to max|a-b|/max|b| <= 3e-6 for every
// family, with the weights in float32 and rounded to bfloat16 alike; the
// hidden states after every layer agree as well. Karpathy's stories260K,
// converted by ConvertLlama2C, generates greedily exactly what llama2.c's
// run.c prints.
//
// # Memory and speed
//
// By default every weight is widened to float32 at load. Options.Compact
// keeps BF16 and F16 matrices in 16 bits (half the memory) and widens a
// block of 16 rows at a time while every token of the batch passes over
// it, so prompt scoring costs the same or less (less memory traffic);
// single-token generation, which reads every weight once per token, is
// memory-bound either way. Matrix products split the output rows among
// Options.Threads goroutines, attention splits sequences and heads.
package model
