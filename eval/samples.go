package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Sample logs: lm-eval's --log_samples JSONL, one line per document (and
// per filter for generate_until), written with the harness's key order,
// its str() of responses (sanitize_list) and its hashes, so that a
// gomerge run and a harness run can be compared line by line.

func hashString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// sampleDoc is the document as the harness logs it: the task's own
// document when the data carries one, else gomerge's fields.
func sampleDoc(d *Doc) any {
	if d.Raw != nil {
		if v, err := rawToPy(d.Raw); err == nil {
			return v
		}
	}
	switch {
	case d.Choices != nil:
		gold := make([]any, len(d.Gold))
		for i, g := range d.Gold {
			gold[i] = g
		}
		return pyDict{{"context", d.Context}, {"choices", d.Choices}, {"gold", gold}}
	case d.IDs != nil:
		ids := make([]any, len(d.IDs))
		for i, id := range d.IDs {
			ids[i] = id
		}
		return pyDict{{"ids", ids}, {"text", d.Text}}
	case d.Context != "" || d.Target != "":
		return pyDict{{"context", d.Context}, {"target", d.Target}}
	}
	return pyDict{{"text", d.Text}}
}

// writeSample writes one log line.
func writeSample(w io.Writer, docID int, d *Doc, target string, args []pyDict, resps, filtered []any, filter string, metrics pyDict) error {
	doc := sampleDoc(d)
	names := make([]any, len(metrics))
	for i, m := range metrics {
		names[i] = m.Key
	}
	arguments := pyDict{}
	for i, a := range args {
		arguments = append(arguments, pyItem{fmt.Sprintf("gen_args_%d", i), a})
	}
	prompt := ""
	if len(args) > 0 {
		prompt, _ = args[0][0].Value.(string)
	}
	line := pyDict{
		{"doc_id", docID}, {"doc", doc}, {"target", target}, {"arguments", arguments},
		{"resps", resps}, {"filtered_resps", filtered}, {"filter", filter}, {"metrics", names},
		{"doc_hash", hashString(pyJSON(doc, 2))}, {"prompt_hash", hashString(prompt)}, {"target_hash", hashString(target)},
	}
	line = append(line, metrics...)
	_, err := io.WriteString(w, pyJSON(line, -1)+"\n")
	return err
}

// choiceTarget is str(doc_to_target(doc)) of a multiple-choice document:
// the gold index, or the list of them.
func choiceTarget(d *Doc) string {
	if len(d.Gold) == 1 {
		return fmt.Sprint(d.Gold[0])
	}
	parts := make([]string, len(d.Gold))
	for i, g := range d.Gold {
		parts[i] = fmt.Sprint(g)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// logChoiceSamples writes a multiple-choice task's samples.
func logChoiceSamples(w io.Writer, t *Task, docs []Doc, ctxs []string, res []Result, spans []span) error {
	for i := range docs {
		d := &docs[i]
		rs := res[spans[i].start:spans[i].end]
		var args []pyDict
		var resps, filtered []any
		for j, c := range d.Choices {
			args = append(args, pyDict{{"arg_0", ctxs[i]}, {"arg_1", t.TargetDelimiter + c}})
			pair := []any{pyStr(rs[j].LogLikelihood), pyStr(rs[j].IsGreedy)}
			resps = append(resps, []any{pair})
			filtered = append(filtered, pair)
		}
		vals := choiceMetrics(d, rs)
		var metrics pyDict
		// process_results' fixed order, whatever the metric_list order.
		for _, m := range []string{"acc", "acc_norm", "acc_bytes", "exact_match"} {
			if !hasString(t.Metrics, m) {
				continue
			}
			if m == "exact_match" {
				metrics = append(metrics, pyItem{m, int(vals[m])})
			} else {
				metrics = append(metrics, pyItem{m, pyFloat(vals[m])})
			}
		}
		if err := writeSample(w, i, d, choiceTarget(d), args, resps, filtered, "none", metrics); err != nil {
			return err
		}
	}
	return nil
}

// logGenerateSamples writes a generate_until task's samples: every
// document for the first filter, then every document for the next.
func logGenerateSamples(w io.Writer, t *Task, docs []Doc, ctxs, resps []string, filtered [][]string, values [][]float64) error {
	for f, flt := range filters(t) {
		for i := range docs {
			args := []pyDict{{{"arg_0", ctxs[i]}, {"arg_1", t.Generation.args()}}}
			metrics := pyDict{{"exact_match", pyFloat(values[f][i])}}
			if err := writeSample(w, i, &docs[i], docs[i].Target, args, []any{[]any{resps[i]}}, []any{filtered[f][i]}, flt.Name, metrics); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// logPerplexitySamples writes a loglikelihood_rolling task's samples:
// the harness's metrics are (loglikelihood, words or bytes) pairs.
func logPerplexitySamples(w io.Writer, t *Task, docs []Doc, res []Result, spans []span) error {
	for i := range docs {
		d := &docs[i]
		ll := sumResults(res[spans[i].start:spans[i].end]).LogLikelihood
		var metrics pyDict
		for _, m := range []string{"word_perplexity", "byte_perplexity", "bits_per_byte"} {
			if !hasString(t.Metrics, m) {
				continue
			}
			n := len(d.Text)
			if m == "word_perplexity" {
				n = countWords(d.Text)
			}
			metrics = append(metrics, pyItem{m, []any{ll, n}})
		}
		args := []pyDict{{{"arg_0", d.Text}}}
		if err := writeSample(w, i, d, d.Text, args, []any{[]any{pyStr(ll)}}, []any{pyStr(ll)}, "none", metrics); err != nil {
			return err
		}
	}
	return nil
}
