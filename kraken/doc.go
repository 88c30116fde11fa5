// Package kraken builds and runs Krakens (cognitivecomputations/kraken,
// Apache-2.0): a "collection of experts" in which a small
// sequence-classification router reads the whole prompt and picks one
// whole expert model — or, in Kraken-LoRA, one LoRA adapter on a shared
// base — to answer it. Routing is per request, not per token or layer, so
// experts may differ in architecture, size and tokenizer.
//
// # Config
//
// Parse reads Kraken's source config.json: models and tokenizers
// (expertK → directory or Hugging Face id), quantization (null, 8bit, 4bit,
// awq: carried along for the Python loader, ignored here with a warning),
// class_indices (router label → index k), router and model_type "kraken";
// Kraken-LoRA adds lora_adapters (lora_expertK → adapter) and has
// models.base only. Config.Validate refuses what the original would fail
// on at routing time: its modeling files pick the expert by indexing the
// hard-coded list expert1..expert5 (lora_expert1..lora_expert5) with the
// class index, so more than five experts, an index outside 0..4, or an
// index whose expert (or tokenizer) is missing are errors naming the key.
//
// # Layout
//
// Build writes the directory the original's save notebook produces, plus
// the router beside it:
//
//	OUT/kraken_model/config.json        {"architectures": ["KrakenForCausalLM"], "auto_map": {...},
//	                                     "config_dict": <the source config>, "model_type": "kraken",
//	                                     "torch_dtype": <router's>, "transformers_version": ...}
//	OUT/kraken_model/generation_config.json
//	OUT/kraken_model/model.safetensors  the router's weights under "router_model." (the only
//	                                    registered submodule; experts live in dicts and are not saved)
//	OUT/kraken_router/                  the classifier checkpoint and its tokenizer
//	OUT/experts/KEY/                    with BuildOptions.CopyExperts only
//
// auto_map names configuration_kraken.KrakenConfig and
// modeling_kraken.KrakenForCausalLM (configuration_kraken_lora and
// modeling_kraken_lora for Kraken-LoRA). config_dict.router is
// "kraken_router" and copied experts are "experts/KEY", relative to OUT;
// referenced local experts are written as absolute paths, ids verbatim.
// Everything goes through internal/outdir (staging, marker, refusal of
// inputs).
//
// # Loading a built Kraken in Python
//
// The original's remote-code files are not part of gomerge. To load OUT
// with transformers, fetch them from https://github.com/cognitivecomputations/kraken
// (configuration_kraken.py, modeling_kraken.py, tokenizer_template_switch.py;
// for Kraken-LoRA the Kraken-LoRA/ versions configuration_kraken_lora.py,
// modeling_kraken_lora.py and its tokenizer_template_switch.py, which need
// peft), copy them into OUT/kraken_model, and run Python from OUT (the
// relative router and expert paths resolve against the working
// directory, as in the original's notebooks):
//
//	import sys; sys.path.insert(0, "kraken_model")
//	from transformers import AutoConfig, AutoModelForCausalLM
//	from configuration_kraken import KrakenConfig
//	from modeling_kraken import KrakenForCausalLM
//	AutoConfig.register("kraken", KrakenConfig)
//	AutoModelForCausalLM.register(KrakenConfig, KrakenForCausalLM)
//	model = AutoModelForCausalLM.from_pretrained("kraken_model", trust_remote_code=True)
//
// # Router training
//
// TrainRouter trains the router on labelled prompts (ReadExamples reads
// JSONL lines {"text", "label"}; Kraken's integer labels k become
// LABEL_k): the base model is frozen, each prompt's feature is the final
// normalized hidden state of its last non-padding token, and the head is a
// multinomial logistic regression on those features without bias (HF's
// score.weight has none), fitted by Nesterov-accelerated full-batch
// gradient descent with weight decay. The split keeps a seeded share of
// each label out; the Report gives held-out accuracy, per-label precision
// and recall and the confusion matrix. This replaces the original's full
// fine-tune (HF Trainer, 7 epochs) with a linear probe: cheap on a CPU,
// deterministic, and the same checkpoint layout. WriteRouter writes a
// *ForSequenceClassification directory (LlamaForSequenceClassification,
// Qwen2ForSequenceClassification, ...): the base's tensors without
// lm_head, score.weight in float32, id2label/label2id, pad_token_id (the
// base's pad, else its EOS, as the original's notebook sets it) and the
// tokenizer files.
//
// # Routing
//
// Open loads a built Kraken: the router (model.OpenClassifier) and its
// tokenizer at once, each expert when first chosen, then cached (for
// Kraken-LoRA, the base with the adapter applied in memory through
// lora.Apply, one cached model per adapter — the original re-wraps the base
// with PeftModel on every call). Kraken.Generate routes a conversation as
// the original does — the router classifies the conversation rendered with
// its own chat template (or the plain contents when it has none), the top
// label maps through class_indices to expert(k+1) — then renders the
// messages with the chosen expert's chat template and generation prompt
// (package chat) and generates with an eval/model Session, stopping on the
// expert's EOS ids. GenerateRendered takes text already rendered with the
// router's template, as the original's generate receives it, and recovers
// the messages with RecoverMessages, the original's heuristic. Two
// deliberate differences: a rendered prompt is encoded without adding
// special tokens (the original's tokenizer(text) doubles the BOS of
// templates that print it), and the answer is returned as the expert's
// tokens and text rather than re-encoded with the router's tokenizer.
// Experts must be local directories: gomerge does not download at routing
// time.
package kraken
