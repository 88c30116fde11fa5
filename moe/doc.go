// Package moe builds mixture-of-experts models from dense ones, as
// mergekit-moe does: the base model gives the attention, norms, embeddings
// and tokenizer, each expert model gives its MLP, and a router ("gate")
// matrix is made for every layer from prompts (hidden states of the base,
// or token embeddings) or drawn at random. No training is involved.
//
// LoadConfig parses mergekit-moe's YAML; NewPlan opens the models, picks
// the output architecture (Mixtral, DeepSeek MoE, Qwen2-MoE, Qwen3-MoE) and
// lists every output tensor from headers alone; Build streams the tensors
// into a directory. Mixtral and Qwen3-MoE outputs use the per-expert
// layout of transformers v4 by default and the fused layout of
// transformers v5 with LayoutV5.
//
// Random gates come from Go's PCG generator keyed by the seed and the
// layer, so they match torch's draws in distribution only; every copied,
// fused and zero tensor matches mergekit-moe's bytes.
package moe
