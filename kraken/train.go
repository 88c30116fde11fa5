package kraken

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tokenizer"
)

// Example is one labelled prompt of router training data: a line
// {"text": "...", "label": "expert1"} of a JSONL file. Kraken's own data
// labels with the expert's index; a numeric label k becomes LABEL_k, the
// name transformers gives class k.
type Example struct {
	Text  string
	Label string
}

// maxExampleLine bounds one JSONL line of training data.
const maxExampleLine = 16 << 20

// ReadExamples reads router training data: one JSON object per line with
// a string "text" and a string or integer "label". Blank lines are
// skipped; name is used in errors, which give the line number.
func ReadExamples(r io.Reader, name string) ([]Example, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxExampleLine)
	var out []Example
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var rec struct {
			Text  *string         `json:"text"`
			Label json.RawMessage `json:"label"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("%s:%d: no \"text\"", name, line)
		}
		label, err := parseLabel(rec.Label)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, Example{Text: *rec.Text, Label: label})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func parseLabel(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", errors.New("empty \"label\"")
		}
		return s, nil
	}
	var k int
	if err := json.Unmarshal(raw, &k); err == nil && k >= 0 {
		return "LABEL_" + strconv.Itoa(k), nil
	}
	if len(raw) == 0 {
		return "", errors.New("no \"label\"")
	}
	return "", fmt.Errorf("\"label\" is %s, want a string or a non-negative integer", raw)
}

// TrainOptions configure TrainRouter. The zero value trains with the
// defaults.
type TrainOptions struct {
	// Seed decides the held-out split; training is deterministic for it.
	Seed uint64
	// HoldOut is the fraction of each label's examples kept out of
	// training to measure accuracy: 0 means 0.1 (the original's test and
	// validation halves together); negative keeps none out.
	HoldOut float64
	// Iterations bounds full-batch gradient steps; 0 means 3000.
	Iterations int
	// L2 is the weight decay of the head; 0 means 1e-3.
	L2 float64
	// MaxTokens truncates each prompt to its first MaxTokens tokens; 0
	// means the base's max_position_embeddings.
	MaxTokens int
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called after each example's features are
	// computed, with the number done and the total.
	Progress func(done, total int)
}

// Head is a trained sequence-classification head on a base model.
type Head struct {
	// Labels are the classes by id: config.json's id2label.
	Labels []string
	// Weight is score.weight, [len(Labels), hidden] row-major.
	Weight []float32
	// Pad is the pad_token_id written with the head (the base's, else
	// its EOS, as Kraken's training notebook sets it); -1 for none.
	Pad int
}

// Report is what TrainRouter measured.
type Report struct {
	Labels   []string `json:"labels"`
	Train    int      `json:"train"`
	HeldOut  int      `json:"held_out"`
	Seed     uint64   `json:"seed"`
	Hidden   int      `json:"hidden_size"`
	Steps    int      `json:"steps"`
	Loss     float64  `json:"train_loss"`
	TrainAcc float64  `json:"train_accuracy"`
	// Accuracy is the held-out accuracy (NaN, written as null, when
	// nothing was held out).
	Accuracy *float64     `json:"held_out_accuracy"`
	Classes  []ClassScore `json:"classes"`
	// Confusion[i][j] counts held-out examples of label i classified as j.
	Confusion [][]int `json:"confusion"`
}

// ClassScore is one label's held-out scores.
type ClassScore struct {
	Label     string   `json:"label"`
	Support   int      `json:"support"`
	Train     int      `json:"train"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
}

// features holds examples' last-token hidden states.
type features struct {
	x      [][]float32
	y      []int
	hidden int
}

// TrainRouter trains a sequence-classification head on base: each
// example's prompt is tokenized with the base's tokenizer (with its
// special tokens), run through the frozen base, and the final normalized
// hidden state of its last non-padding token is the feature vector; the
// head is a multinomial logistic regression on those features (no bias,
// as score.weight has none), fitted by accelerated full-batch gradient
// descent with weight decay. Labels are sorted by name to give ids.
func TrainRouter(ctx context.Context, base *model.Model, tok *tokenizer.Tokenizer, examples []Example, opt TrainOptions) (*Head, *Report, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if opt.HoldOut == 0 {
		opt.HoldOut = 0.1
	}
	if opt.Iterations <= 0 {
		opt.Iterations = 3000
	}
	if opt.L2 <= 0 {
		opt.L2 = 1e-3
	}
	if opt.MaxTokens <= 0 {
		opt.MaxTokens = base.MaxPositions()
	}
	labelSet := map[string]bool{}
	for _, e := range examples {
		labelSet[e.Label] = true
	}
	labels := slices.SortedFunc(maps.Keys(labelSet), labelOrder)
	if len(labels) < 2 {
		return nil, nil, fmt.Errorf("router training needs at least two labels, got %d (%q)", len(labels), labels)
	}
	pad := padID(base, tok)
	train, held := split(examples, labels, opt.HoldOut, opt.Seed)
	log.Info("router features", "train", len(train), "held_out", len(held), "labels", len(labels))
	progress := func(done int) {
		if opt.Progress != nil {
			opt.Progress(done, len(train)+len(held))
		}
	}
	ftrain, err := featurize(ctx, base, tok, train, labels, pad, opt.MaxTokens, func(i int) { progress(i) })
	if err != nil {
		return nil, nil, err
	}
	fheld, err := featurize(ctx, base, tok, held, labels, pad, opt.MaxTokens, func(i int) { progress(len(train) + i) })
	if err != nil {
		return nil, nil, err
	}
	w, steps, loss, err := fitSoftmax(ctx, ftrain, len(labels), opt.L2, opt.Iterations)
	if err != nil {
		return nil, nil, err
	}
	head := &Head{Labels: labels, Weight: w, Pad: pad}
	rep := &Report{Labels: labels, Train: len(train), HeldOut: len(held), Seed: opt.Seed, Hidden: base.HiddenSize(),
		Steps: steps, Loss: loss}
	rep.TrainAcc, _ = score(head, ftrain)
	acc, conf := score(head, fheld)
	if len(held) > 0 {
		rep.Accuracy = &acc
	}
	rep.Confusion = conf
	for i, l := range labels {
		c := ClassScore{Label: l}
		for _, y := range ftrain.y {
			if y == i {
				c.Train++
			}
		}
		col := 0
		for j := range labels {
			c.Support += conf[i][j]
			col += conf[j][i]
		}
		if c.Support > 0 {
			c.Recall = ptr(float64(conf[i][i]) / float64(c.Support))
		}
		if col > 0 {
			c.Precision = ptr(float64(conf[i][i]) / float64(col))
		}
		rep.Classes = append(rep.Classes, c)
	}
	return head, rep, nil
}

func ptr(f float64) *float64 { return &f }

// labelOrder sorts LABEL_2 before LABEL_10 and expert2 before expert10:
// by the text before a trailing number, then by the number.
func labelOrder(a, b string) int {
	pa, na := splitNum(a)
	pb, nb := splitNum(b)
	if c := strings.Compare(pa, pb); c != 0 || na < 0 || nb < 0 {
		if c != 0 {
			return c
		}
		return strings.Compare(a, b)
	}
	if na != nb {
		return na - nb
	}
	return strings.Compare(a, b)
}

func splitNum(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil || len(s)-i > 9 {
		return s, -1
	}
	return s[:i], n
}

// padID is the base's pad token, else its first EOS id.
func padID(base *model.Model, tok *tokenizer.Tokenizer) int {
	if tok != nil {
		if p := tok.Special().PAD; p.Found {
			return p.ID
		}
	}
	if eos := base.EOS(); len(eos) > 0 {
		return eos[0]
	}
	return -1
}

// split keeps ceil(holdOut × n) of each label's n examples out (at least
// one when the label has two or more), chosen by a seeded shuffle.
func split(examples []Example, labels []string, holdOut float64, seed uint64) (train, held []Example) {
	rng := rand.New(rand.NewPCG(seed, 0x6b72616b656e))
	for _, l := range labels {
		var group []Example
		for _, e := range examples {
			if e.Label == l {
				group = append(group, e)
			}
		}
		rng.Shuffle(len(group), func(i, j int) { group[i], group[j] = group[j], group[i] })
		n := 0
		if holdOut > 0 && len(group) >= 2 {
			n = min(len(group)-1, max(1, int(math.Ceil(holdOut*float64(len(group))))))
		}
		held = append(held, group[:n]...)
		train = append(train, group[n:]...)
	}
	return train, held
}

// lastNonPad is the position transformers' sequence classifiers read.
func lastNonPad(ids []int, pad int) int {
	p := len(ids) - 1
	for p > 0 && ids[p] == pad {
		p--
	}
	return p
}

// encodeForRouter tokenizes text as a router reads it: with the
// tokenizer's special tokens, truncated to maxTokens.
func encodeForRouter(tok *tokenizer.Tokenizer, text string, maxTokens int) ([]int, error) {
	ids := tok.Encode(text, true)
	if len(ids) == 0 {
		return nil, fmt.Errorf("the prompt %q has no tokens", truncate(text, 60))
	}
	if maxTokens > 0 && len(ids) > maxTokens {
		ids = ids[:maxTokens]
	}
	return ids, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func featurize(ctx context.Context, base *model.Model, tok *tokenizer.Tokenizer, ex []Example, labels []string, pad, maxTokens int, done func(int)) (*features, error) {
	f := &features{hidden: base.HiddenSize()}
	for i, e := range ex {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ids, err := encodeForRouter(tok, e.Text, maxTokens)
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
		h, err := base.HiddenAt(ids, lastNonPad(ids, pad))
		if err != nil {
			return nil, fmt.Errorf("example %d: %w", i, err)
		}
		f.x = append(f.x, h)
		f.y = append(f.y, slices.Index(labels, e.Label))
		done(i + 1)
	}
	return f, nil
}

// fitSoftmax minimises the mean cross-entropy of softmax(W x) plus
// l2/2·|W|² by Nesterov-accelerated gradient descent with step 1/L, L
// bounding the loss's curvature (half the largest |x|², plus l2). It
// stops after iters steps or once the gradient norm falls below 1e-6 of
// its first value, and returns W [k, hidden], the steps taken and the
// final loss; a cancelled ctx stops it with ctx's error. The gradient is summed over a fixed number of blocks of
// examples, computed in parallel and added in block order, so the result
// does not depend on the number of CPUs.
func fitSoftmax(ctx context.Context, f *features, k int, l2 float64, iters int) ([]float32, int, float64, error) {
	H := f.hidden
	n := len(f.x)
	maxSq := 0.0
	for _, x := range f.x {
		s := 0.0
		for _, v := range x {
			s += float64(v) * float64(v)
		}
		maxSq = max(maxSq, s)
	}
	step := 1 / (0.5*maxSq + l2)
	w := make([]float64, k*H)
	prev := make([]float64, k*H)
	y := make([]float64, k*H)
	grad := make([]float64, k*H)
	const blocks = 16
	parts := make([][]float64, blocks)
	losses := make([]float64, blocks)
	for b := range parts {
		parts[b] = make([]float64, k*H)
	}
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	loss, first := 0.0, 0.0
	steps := 0
	t := 1.0
	for steps < iters {
		if err := ctx.Err(); err != nil {
			return nil, steps, loss, err
		}
		steps++
		// Gradient at the look-ahead point y.
		for b := range blocks {
			g.Go(func() error {
				losses[b] = softmaxGrad(parts[b], y, f, k, b*n/blocks, (b+1)*n/blocks)
				return nil
			})
		}
		g.Wait()
		clear(grad)
		loss = 0
		for b := range blocks {
			loss += losses[b]
			for j, v := range parts[b] {
				grad[j] += v
			}
		}
		loss /= float64(n)
		norm := 0.0
		for j := range grad {
			grad[j] = grad[j]/float64(n) + l2*y[j]
			norm += grad[j] * grad[j]
		}
		norm = math.Sqrt(norm)
		if steps == 1 {
			first = norm
		}
		copy(prev, w)
		for j := range w {
			w[j] = y[j] - step*grad[j]
		}
		if norm <= 1e-6*first {
			break
		}
		tNext := (1 + math.Sqrt(1+4*t*t)) / 2
		mom := (t - 1) / tNext
		t = tNext
		for j := range y {
			y[j] = w[j] + mom*(w[j]-prev[j])
		}
	}
	out := make([]float32, len(w))
	for j, v := range w {
		out[j] = float32(v)
	}
	return out, steps, loss, nil
}

// softmaxGrad writes into grad the summed cross-entropy gradient of
// examples [lo, hi) at weights w and returns their summed loss.
func softmaxGrad(grad, w []float64, f *features, k, lo, hi int) float64 {
	H := f.hidden
	clear(grad)
	logits := make([]float64, k)
	loss := 0.0
	for i := lo; i < hi; i++ {
		x := f.x[i]
		for c := range k {
			s := 0.0
			row := w[c*H : (c+1)*H]
			for j, v := range x {
				s += row[j] * float64(v)
			}
			logits[c] = s
		}
		lse := logSumExp(logits)
		loss += lse - logits[f.y[i]]
		for c := range k {
			p := math.Exp(logits[c] - lse)
			if c == f.y[i] {
				p--
			}
			row := grad[c*H : (c+1)*H]
			for j, v := range x {
				row[j] += p * float64(v)
			}
		}
	}
	return loss
}

func logSumExp(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	return m + math.Log(s)
}

// score classifies f with the head and returns the accuracy and the
// confusion matrix.
func score(h *Head, f *features) (float64, [][]int) {
	conf := make([][]int, len(h.Labels))
	for i := range conf {
		conf[i] = make([]int, len(h.Labels))
	}
	right := 0
	for i, x := range f.x {
		p := model.Argmax(model.HeadLogits(h.Weight, x))
		conf[f.y[i]][p]++
		if p == f.y[i] {
			right++
		}
	}
	if len(f.x) == 0 {
		return math.NaN(), conf
	}
	return float64(right) / float64(len(f.x)), conf
}

// WriteReport prints the report as text: accuracy, per-class precision
// and recall, and the held-out confusion matrix.
func (r *Report) WriteReport(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "router head: %d labels, %d train / %d held-out examples (seed %d), hidden size %d, %d steps, train loss %.4f\n",
		len(r.Labels), r.Train, r.HeldOut, r.Seed, r.Hidden, r.Steps, r.Loss)
	fmt.Fprintf(&b, "train accuracy     %.4f\n", r.TrainAcc)
	if r.Accuracy != nil {
		fmt.Fprintf(&b, "held-out accuracy  %.4f\n", *r.Accuracy)
	} else {
		fmt.Fprintf(&b, "held-out accuracy  n/a (nothing held out)\n")
	}
	width := len("label")
	for i, l := range r.Labels {
		width = max(width, len(strconv.Itoa(i)+" "+l))
	}
	fmt.Fprintf(&b, "\n%-*s  %9s  %6s  %7s  %6s\n", width, "label", "precision", "recall", "support", "train")
	opt := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", *p)
	}
	for _, c := range r.Classes {
		fmt.Fprintf(&b, "%-*s  %9s  %6s  %7d  %6d\n", width, c.Label, opt(c.Precision), opt(c.Recall), c.Support, c.Train)
	}
	fmt.Fprintf(&b, "\nheld-out confusion (rows: true label, columns: predicted)\n%-*s", width, "")
	for j := range r.Labels {
		fmt.Fprintf(&b, "  %5d", j)
	}
	b.WriteByte('\n')
	for i, l := range r.Labels {
		fmt.Fprintf(&b, "%-*s", width, strconv.Itoa(i)+" "+l)
		for j := range r.Labels {
			fmt.Fprintf(&b, "  %5d", r.Confusion[i][j])
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sortLabels orders labels as TrainRouter numbers them.
func sortLabels(s []string) { slices.SortFunc(s, labelOrder) }
