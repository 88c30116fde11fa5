// Package eval scores language models on tasks the way EleutherAI's
// lm-evaluation-harness does, so that a merge can be judged without
// Python: multiple-choice log-likelihood (acc, acc_norm) and rolling-window
// perplexity (word_perplexity, byte_perplexity, bits_per_byte).
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
// EOS ids); RemoteTokenizer uses the server's /tokenize.
//
// # Semantics (lm-eval at 4e7e0d4)
//
// Multiple choice. The context is the task's description, then
// num_fewshot solved examples (context, target_delimiter, gold choice,
// fewshot_delimiter; the first ones of fewshot_docs, or of the task's own
// documents without the one being scored), then the document's context.
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
//	metric_list: [acc, acc_norm]       # or [{metric: acc}, …]; acc_bytes, exact_match;
//	                                   # word_perplexity, byte_perplexity, bits_per_byte, token_perplexity
//	license: CC BY-SA 4.0
//	docs: [{context: "…", choices: [a, b], gold: 0}]   # inline documents, and/or
//	dataset_path: items.jsonl                           # relative to the YAML file, or absolute
//	fewshot_docs: […]                                   # or fewshot_path: file.jsonl
//
// testdata/hauptstaedte.yaml, testdata/saetze.jsonl and
// testdata/wahr_falsch.jsonl are complete examples.
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
// BuiltinTasks lists the sets embedded in the binary (zstd, 136 KB in
// all), each with its licence and attribution (BuiltinNotice):
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
