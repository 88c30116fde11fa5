// Package merge runs mergekit merge configurations: it parses the YAML
// (LoadConfig), checks it against the models' config.json files and
// safetensors headers and plans every output tensor (NewPlan), and streams
// the merge one tensor at a time into a new model directory (Execute).
// The zero Options is what the gomerge command does without flags: the
// tokenizer is copied, the model card written, special tokens aligned,
// shards of DefaultShardSize, a fresh random seed reported in Result.Seed.
//
// The behaviour follows mergekit v0.1.4. Where mergekit has a quirk, gomerge
// follows it unless noted:
//
//   - Arithmetic is rounded to the working dtype (config dtype, else the
//     stored dtype) after every operation, as PyTorch computes in that
//     dtype; per-model weights are rounded to it too (0.3 is 0.30078125 in
//     bfloat16). Sums over models accumulate in float32 and round once.
//     slerp runs in float32 whatever the working dtype, as mergekit's NumPy
//     code does.
//   - Gradients are interpolated over the layers of each output slice;
//     weights before the layers (embeddings) and after them (final norm,
//     lm_head) use the gradient's first value (t = 0); a one-layer slice
//     uses its last value.
//   - Filters match by substring, the first matching entry wins, and
//     per-model values beat slice and top-level ones. Global parameters
//     match the output tensor name, per-model ones the input name.
//   - With models: syntax a base_model that is not listed is added as an
//     input, so linear needs a weight for it and passthrough fails.
//   - Magnitude pruning that keeps no element (density·n < 1) is an error,
//     as mergekit asserts.
//   - Unknown keys and unused parameters are ignored with a warning.
//
// Where gomerge differs, it is on purpose:
//
//   - Validation happens before any weight is read: unknown methods,
//     missing parameters, layer ranges beyond a model, missing tensors and
//     shape mismatches are reported with the YAML line. Every model is
//     opened before planning gives up, so one error names each model that
//     is missing (a *ModelError) together with every misspelt parameter;
//     hub models come from the cache first (see hub.Client.ReachTimeout).
//   - When no base_model is given, the first model of the config donates
//     config.json and the tokenizer (mergekit takes one in set order).
//   - When the output config sets tie_word_embeddings, no lm_head is
//     written, even if some inputs store one (with a warning); mergekit
//     writes one from the embeddings that the loader then ignores (issues
//     #385, #632). An untied output still takes a tied input's embeddings
//     as that input's lm_head, as in mergekit.
//   - A failed or interrupted merge leaves no output; an output directory
//     appears only complete.
//   - Random methods cannot replay torch's generator; their masks are
//     drawn from a generator seeded by (seed, tensor, model), the same on
//     every machine and thread count.
package merge
