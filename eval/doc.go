// Package eval scores language models on tasks the way EleutherAI's
// lm-evaluation-harness does, so that a merge can be judged without
// Python: multiple-choice log-likelihood (acc, acc_norm), rolling-window
// perplexity (word_perplexity, byte_perplexity, bits_per_byte) and greedy
// generation scored by exact_match after the harness's filters.
//
// # Models
//
// Everything is computed from one request type, lm-eval's loglikelihood
// request on token ids: Request{Context, Continuation} → Result
// {LogLikelihood, Tokens, IsGreedy}. An LM answers batches of them.
// FromLogits wraps an in-process forward pass (logits for a list of ids);
// FromTailScores one that scores continuation tokens itself, as
// eval/model's TailLogProbs does at the least cost (a shared context run
// once, the output layer only where a continuation token is predicted);
// Endpoint talks to an OpenAI-compatible /v1/completions server with
// echo and logprobs, as lm-eval's local-completions model does. Text is
// tokenized by a Tokenizer (Encode without special tokens, plus BOS and
// EOS ids): FromTokenizer adapts a model's own tokenizer (package
// tokenizer's *Tokenizer, from tokenizer.json or tokenizer.model);
// RemoteTokenizer uses the server's /tokenize. Package eval/local opens a
// model directory or a merge config with both at once.
//
// # Semantics (lm-eval at 4e7e0d4)
//
// Multiple choice. The context is the task's description, then
// num_fewshot solved examples (context, target_delimiter, gold choice,
// fewshot_delimiter), then the document's context. The examples come from
// fewshot_docs, else from the task's own documents without the one being
// scored; fewshot_config's sampler picks them: first_n (gomerge's default)
// takes the first ones, default (lm-eval's default) draws them with
// Python's random.Random(1234).sample, document after document (n+1 from
// the task's own documents, then the scored one dropped), reproduced
// draw for draw. A task whose harness definition takes its examples from
// a split gomerge does not hold (fewshot_split: train without
// fewshot_docs, as paws_de) refuses num_fewshot > 0.
// Each choice c is scored as the continuation target_delimiter + c
// (default " "). Trailing whitespace of the context moves to the front of
// the continuation; the continuation's tokens are what follows
// enc(context) inside enc(context+continuation). An empty context is
// replaced by the prefix token (BOS, else EOS, or Options.PrefixToken),
// and the continuation is then encoded without BOS. Context+continuation
// is left-truncated to MaxLength()+1 tokens. Per document: acc =
// [argmax ll == gold], acc_norm = [argmax ll/len(c) == gold] where len is
// the choice's length in characters (Unicode code points, without the
// delimiter), acc_bytes divides by UTF-8 bytes, exact_match = the gold
// continuation is greedy. Ties go to the first choice (numpy's argmax).
// Several gold indices mean "any of". Each metric is the mean over
// documents, with stderr = sample standard deviation / √n (none for one
// document).
//
// Perplexity. A document's tokens are scored in lm-eval's rolling windows
// (RollingTokenWindows with context_len 1, made disjoint): the first
// window feeds the prefix token and the first MaxLength()−1 tokens and
// scores the first MaxLength() tokens; every later window scores the
// next MaxLength() tokens conditioned only on the one token before them —
// no sliding context; the last partial window keeps as much context as
// fits. A pre-tokenized document {"ids": [...]} is scored the same way
// with ids[0] as the prefix, so its log-likelihood is Σ log p(id_i |
// ids_<i) over i = 2..n when it fits one window. Corpus metrics are
// weighted means: word_perplexity = exp(−Σ ll / Σ words) with words =
// len(re.split(r"\s+", text)) (Python's Unicode whitespace; leading or
// trailing whitespace adds an empty word, as in the harness),
// byte_perplexity = exp(−Σ ll / Σ bytes), bits_per_byte = −Σ ll / Σ bytes
// / ln 2, and gomerge's token_perplexity = exp(−Σ ll / Σ tokens).
// lm-eval reports no stderr for these. Sums are in float64.
//
// Generation (generate_until). The context is rendered as above (an
// example's answer is its target; an example with an empty target is its
// context alone, as the harness's build_qa_turn writes it). A local model
// encodes it (left-truncated to MaxLength − max_gen_toks tokens, as HFLM),
// picks the most likely token until EOS, max_gen_toks (default 256) or a
// stop string ("until") appears in the decoded text, and the answer is
// the decoded text cut before the first occurrence of each stop string in
// turn. An Endpoint is sent the text with temperature 0, max_tokens and
// stop. Each filter of filter_list (default "none": take_first) turns the
// answer into a prediction — remove_whitespace (str.strip), lowercase,
// uppercase, take_first, and regex (the group_select-th match of
// re.findall, negative from the end; with groups, the first non-empty one;
// stripped; fallback "[invalid]") — and exact_match compares it with the
// target after regexes_to_ignore, ignore_case, ignore_punctuation (ASCII
// string.punctuation) and ignore_numbers. Metrics are named per filter,
// "exact_match,flexible-extract", with stderr as for acc. Patterns are
// compiled by Go's regexp (RE2): Python-only syntax such as look-arounds
// is refused when the task is loaded; the leftmost-first matching of the
// patterns the harness's tasks use is the same. Case folding is Go's
// strings.ToLower, which differs from Python's str.lower only for a few
// letters (İ).
//
// Sample logs. With Options.SampleLog each task writes lm-eval's
// --log_samples JSONL: per document (and per filter) doc_id, doc (the
// harness's document where the task carries one), target, arguments
// (gen_args_N with arg_0 the context and arg_1 the continuation or the
// generation_kwargs), resps and filtered_resps as the harness's
// sanitize_list writes them (Python str() of each value), filter, metrics,
// doc_hash, prompt_hash and target_hash (SHA-256 of Python's json.dumps
// with indent=2, of the context and of the target) and the per-document
// metric values, every line in CPython's json.dumps layout. Known
// differences from a harness log of the built-in tasks: a Belebele "doc"
// lacks the Hugging Face fields question_number, dialect and ds (the
// embedded source does not hold them), so its doc_hash differs while
// prompt_hash and target_hash agree; log-likelihoods agree to the
// forward pass's precision, not bit for bit; MGSM's answer_number is the
// source's integer with thousands separators removed ("2,125" → 2125).
//
// # Task files
//
// A task is a YAML file or a JSONL file (either may be zstd-compressed,
// name ending in .zst). A JSONL file holds one document per line and
// makes a task named after the file, its type taken from the first line:
//
//	{"text": "Der Hauptgang war in Ordnung."}                 perplexity
//	{"ids": [1, 4823, 1543, 28711]}                           perplexity, pre-tokenized
//	{"ids": [1, 4823], "text": "Der"}                         ids scored, text counted
//	{"context": "Frage: …\nAntwort:", "choices": ["Berlin", "Wien"], "gold": 0}
//
// gold is an index, the text of a choice, or a list of indices. A missing
// context is the empty context. A YAML file uses lm-eval's key names:
//
//	task: hauptstaedte                 # default: the file name
//	output_type: multiple_choice       # or loglikelihood_rolling (or perplexity)
//	description: "Geografie.\n\n"      # put verbatim before every context
//	target_delimiter: " "
//	fewshot_delimiter: "\n\n"
//	num_fewshot: 1
//	fewshot_config: {sampler: first_n} # or default (Python random, seed 1234)
//	fewshot_split: train               # where the harness takes examples from (needs fewshot_docs)
//	metric_list: [acc, acc_norm]       # or [{metric: acc}, …]; acc_bytes, exact_match;
//	                                   # word_perplexity, byte_perplexity, bits_per_byte, token_perplexity
//	license: CC BY-SA 4.0
//	docs: [{context: "…", choices: [a, b], gold: 0}]   # inline documents, and/or
//	dataset_path: items.jsonl                           # relative to the YAML file, or absolute
//	fewshot_docs: […]                                   # or fewshot_path: file.jsonl
//
// A generation task (documents {"context": …, "target": "18"}):
//
//	output_type: generate_until
//	target_delimiter: ""
//	generation_kwargs: {until: ["Frage:"], do_sample: false, max_gen_toks: 128}
//	filter_list:
//	  - name: flexible-extract
//	    filter:
//	      - {function: regex, regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select: -1}
//	      - {function: take_first}
//	metric_list: [{metric: exact_match, ignore_case: true, ignore_punctuation: true}]
//
// A JSONL document may carry the harness's own document as "doc", which
// sample logs write. testdata/hauptstaedte.yaml, testdata/saetze.jsonl and
// testdata/wahr_falsch.jsonl are complete examples; data/mgsm_direct_de.yaml
// is a generation task.
//
// # Reports
//
// Score returns a Report that marshals to JSON (gomerge eval --json):
//
//	{"harness": "gomerge/eval, lm-evaluation-harness semantics (4e7e0d4)",
//	 "tasks": [{"name": "de_xquad_mc", "output_type": "multiple_choice", "docs": 223,
//	            "metrics": {"acc": 0.43, "acc_norm": 0.47}, "stderr": {"acc": 0.033, "acc_norm": 0.033}}]}
//
// With Options.PerItem each task also lists its documents: for perplexity
// {"doc": 0, "loglikelihood": -94.68, "tokens": 200, "words": 41, "bytes":
// 212}, for multiple choice the choices' results, gold, pred and the
// document's metric values. TaskReport.Metric accepts lm-eval's
// "acc,none" names, as mergekit-evolve writes them.
//
// # Built-in German tasks
//
// BuiltinTasks lists the sets embedded in the binary (zstd, 590 KB in
// all), each with its licence and attribution (BuiltinNotice; Attribution
// is the one line a report or model card quoting a score should carry).
//
// Four are lm-evaluation-harness's own tasks under its names, scored as
// it scores them at 4e7e0d4, so that their numbers compare with published
// ones: belebele_deu_Latn (Belebele, 900 reading-comprehension questions,
// 0-shot by default; few-shot examples first_n from the test split
// without the scored question; acc, acc_norm; CC BY-SA 4.0), paws_de
// (PAWS-X, 2000 paraphrase pairs after process_docs_paraphrases, empty
// context, two whole-sentence choices; acc; Google LLC), mgsm_direct_de
// and mgsm_native_cot_de (MGSM, 250 maths problems, generate_until with
// its filters, few-shot examples from the 8 German worked examples drawn
// by the default sampler; CC BY 4.0). Preset("occiglot-de") is the
// occiglot Euro LLM Leaderboard's German Belebele column (5-shot,
// acc_norm); OcciglotPrompt reproduces the prompt that leaderboard scored
// (full-width colon, scored question kept among its examples).
//
// The other three are gomerge's own sets:
// de_ud_gsd_ppl (perplexity, 400 UD German-GSD sentences, CC BY-SA 4.0),
// de_ud_pud_order (minimal pairs from UD German-PUD: a sentence against the
// same sentence with two adjacent words swapped, empty context as lm-eval's
// BLiMP, acc; CC BY-SA 3.0) and de_xquad_mc (XQuAD German: paragraph and
// question, the answer span against answers to other questions on the same
// paragraph; acc, acc_norm; CC BY-SA 4.0). They are built by
// internal/gendata (go generate) and are gomerge's own constructions on
// real text: their scores are not comparable with any published
// leaderboard.
package eval
