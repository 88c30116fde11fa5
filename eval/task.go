package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/regfile"
)

// TaskType says how a task is scored; the names are lm-eval's output_type.
type TaskType string

// The task types.
const (
	// MultipleChoice scores every choice of a document with one
	// loglikelihood request and picks the most likely one.
	MultipleChoice TaskType = "multiple_choice"
	// Perplexity scores whole documents with rolling windows
	// (lm-eval's loglikelihood_rolling).
	Perplexity TaskType = "loglikelihood_rolling"
	// GenerateUntil generates greedily from each context until a stop
	// string and scores the filtered answer against the document's target.
	GenerateUntil TaskType = "generate_until"
)

// Metric names a task can report.
var (
	// MultipleChoiceMetrics are acc (argmax of the log-likelihoods),
	// acc_norm (argmax of log-likelihood / choice length in characters),
	// acc_bytes (the same over UTF-8 bytes) and exact_match (the gold choice
	// is the greedy continuation).
	MultipleChoiceMetrics = []string{"acc", "acc_norm", "acc_bytes", "exact_match"}
	// PerplexityMetrics are lm-eval's word_perplexity, byte_perplexity and
	// bits_per_byte, and gomerge's token_perplexity, exp(−Σ ll / Σ tokens).
	PerplexityMetrics = []string{"word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity"}
	// GenerateMetrics is exact_match, reported once per filter as
	// "exact_match,FILTER" (lm-eval's names).
	GenerateMetrics = []string{"exact_match"}
)

// defaultMetrics are reported when a task file names none.
var defaultMetrics = map[TaskType][]string{
	MultipleChoice: {"acc", "acc_norm"},
	Perplexity:     PerplexityMetrics,
	GenerateUntil:  GenerateMetrics,
}

// Task is a set of documents and how to score them. See the package
// documentation for the file formats that produce one.
type Task struct {
	Name string
	Type TaskType
	// Description is put verbatim in front of every context.
	Description string
	// TargetDelimiter goes between a context and each choice; task files
	// default it to " ", a Task built in Go says it.
	TargetDelimiter string
	// FewshotDelimiter follows each solved few-shot example; task files
	// default it to "\n\n".
	FewshotDelimiter string
	// NumFewshot solved examples are put before each context, the first ones
	// of FewshotDocs, or of Docs without the document itself (see
	// FewshotSampler).
	NumFewshot  int
	Metrics     []string
	Docs        []Doc
	FewshotDocs []Doc
	// FewshotSplit names the split the harness draws few-shot examples
	// from when it is not the documents' own ("train" for paws_de): a task
	// with FewshotSplit set and no FewshotDocs refuses NumFewshot > 0.
	FewshotSplit string
	// FewshotSampler is lm-eval's fewshot_config.sampler: "first_n" (or
	// "") takes the first examples in order; "default" draws them as the
	// harness does, Python's random.Random(1234).sample, document after
	// document.
	FewshotSampler string
	// FewshotKeepSelf keeps the scored document among the examples drawn
	// from Docs, as the occiglot leaderboard's harness fork did (see
	// OcciglotPrompt).
	FewshotKeepSelf bool
	// Generation, Filters and Match configure a generate_until task:
	// lm-eval's generation_kwargs, filter_list and the exact_match options.
	Generation *Generation
	Filters    []Filter
	Match      MatchOptions
	// Source is where the task was read from; License is its data licence
	// when known.
	Source  string
	License string
}

// Doc is one document of a task.
type Doc struct {
	// Text is a perplexity document; its words and UTF-8 bytes are counted
	// for word_perplexity and byte_perplexity.
	Text string `json:"text,omitempty"`
	// IDs is a pre-tokenized perplexity document: IDs[0] conditions and
	// IDs[1:] are scored.
	IDs []int `json:"ids,omitempty"`
	// Context, Choices and Gold make a multiple-choice document. Gold holds
	// the indices of the correct choices (any of them counts).
	Context string   `json:"context,omitempty"`
	Choices []string `json:"choices,omitempty"`
	Gold    []int    `json:"gold,omitempty"`
	// Target is a generate_until document's answer (with Context).
	Target string `json:"target,omitempty"`
	// Raw is the harness's own document, written to sample logs.
	Raw json.RawMessage `json:"doc,omitempty"`
}

// ErrFormat reports a malformed task file.
var ErrFormat = errors.New("eval: malformed task file")

// taskFile is the YAML layout of a task file.
type taskFile struct {
	Task             string      `yaml:"task"`
	OutputType       string      `yaml:"output_type"`
	Description      string      `yaml:"description"`
	TargetDelimiter  *string     `yaml:"target_delimiter"`
	FewshotDelimiter *string     `yaml:"fewshot_delimiter"`
	NumFewshot       int         `yaml:"num_fewshot"`
	MetricList       []yaml.Node `yaml:"metric_list"`
	Docs             []yaml.Node `yaml:"docs"`
	DatasetPath      string      `yaml:"dataset_path"`
	FewshotDocs      []yaml.Node `yaml:"fewshot_docs"`
	FewshotPath      string      `yaml:"fewshot_path"`
	License          string      `yaml:"license"`
	FewshotSplit     string      `yaml:"fewshot_split"`
	FewshotConfig    struct {
		Sampler string `yaml:"sampler"`
	} `yaml:"fewshot_config"`
	GenerationKwargs yaml.Node   `yaml:"generation_kwargs"`
	FilterList       []yaml.Node `yaml:"filter_list"`
}

// docFile is one document as written in a file; Gold may be an index, a
// choice's text or a list of indices.
type docFile struct {
	Text    *string  `json:"text" yaml:"text"`
	IDs     []int    `json:"ids" yaml:"ids"`
	Context *string  `json:"context" yaml:"context"`
	Choices []string `json:"choices" yaml:"choices"`
	Gold    any      `json:"gold" yaml:"gold"`
	Target  *string  `json:"target" yaml:"target"`
	// Raw is the harness's document (JSONL only).
	Raw json.RawMessage `json:"doc" yaml:"-"`
}

// taskFiles is where a task file and the data sets it names are read
// from: the disk or an fs.FS.
type taskFiles struct {
	read func(name string) ([]byte, error)
	// resolve turns a dataset_path or fewshot_path, as written in the task
	// file dir/…, into a name for read.
	resolve func(dir, ref string) (string, error)
	base    func(name string) string
	dir     func(name string) string
}

// diskFiles reads the disk: a relative dataset_path is relative to the
// task file's directory, an absolute one is used as it is.
var diskFiles = &taskFiles{
	read: func(name string) ([]byte, error) { return regfile.ReadFile(name, regfile.TaskLimit) },
	resolve: func(dir, ref string) (string, error) {
		if filepath.IsAbs(ref) {
			return filepath.Clean(ref), nil
		}
		return filepath.Join(dir, filepath.FromSlash(ref)), nil
	},
	base: filepath.Base,
	dir:  filepath.Dir,
}

// fsFiles reads fsys, where names are slash-separated and relative to its
// root: a dataset_path must stay inside it.
func fsFiles(fsys fs.FS) *taskFiles {
	return &taskFiles{
		read: func(name string) ([]byte, error) { return regfile.ReadFileFS(fsys, name, regfile.TaskLimit) },
		resolve: func(dir, ref string) (string, error) {
			if path.IsAbs(ref) || filepath.IsAbs(ref) {
				return "", fmt.Errorf("%w: %q is an absolute path: a task read from a file system names its data relative to itself (LoadTask reads absolute paths)", ErrFormat, ref)
			}
			p := path.Join(dir, filepath.ToSlash(ref))
			if !fs.ValidPath(p) {
				return "", fmt.Errorf("%w: %q leaves the task's file system", ErrFormat, ref)
			}
			return p, nil
		},
		base: path.Base,
		dir:  path.Dir,
	}
}

// LoadTask reads a task file from disk: YAML (.yaml, .yml) or JSONL
// (.jsonl, .json), either optionally zstd-compressed (.zst). A YAML
// file's dataset_path and fewshot_path are relative to the YAML file's
// directory unless they are absolute. The task file and its data sets
// must be regular files of at most 1 GiB.
func LoadTask(name string) (*Task, error) {
	return loadTask(diskFiles, name)
}

// LoadTaskFS is LoadTask on a file system; a YAML file's dataset_path and
// fewshot_path are relative to the YAML file and must stay inside fsys.
func LoadTaskFS(fsys fs.FS, name string) (*Task, error) {
	return loadTask(fsFiles(fsys), name)
}

func loadTask(files *taskFiles, name string) (*Task, error) {
	data, err := readFile(files, name)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(files.base(name), ".zst")
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	switch ext {
	case ".yaml", ".yml":
		return parseTaskYAML(data, name, stem, files, files.dir(name))
	case ".jsonl", ".json":
		docs, err := ParseDocsJSONL(bytes.NewReader(data), name)
		if err != nil {
			return nil, err
		}
		t := &Task{Name: stem, Docs: docs, Source: name}
		if err := t.init(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s: %w: want .yaml, .yml, .jsonl or .json (optionally .zst)", name, ErrFormat)
}

// ParseTaskYAML parses a YAML task file whose documents are inline (a
// dataset_path needs LoadTask). source names the file in errors.
func ParseTaskYAML(data []byte, source string) (*Task, error) {
	return parseTaskYAML(data, source, strings.TrimSuffix(path.Base(source), path.Ext(source)), nil, "")
}

// parseTaskYAML parses a YAML task file read from dir of files; files is
// nil when there are no files to read data sets from.
func parseTaskYAML(data []byte, source, stem string, files *taskFiles, dir string) (*Task, error) {
	var f taskFile
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w: %v", source, ErrFormat, err)
	}
	if len(doc.Content) == 1 {
		root, err := tidyTask(doc.Content[0])
		if err == nil {
			err = root.Decode(&f)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", source, ErrFormat, err)
		}
	}
	t := &Task{
		Name: f.Task, Description: f.Description, NumFewshot: f.NumFewshot,
		TargetDelimiter: " ", FewshotDelimiter: "\n\n", Source: source, License: f.License,
	}
	if t.Name == "" {
		t.Name = stem
	}
	if f.TargetDelimiter != nil {
		t.TargetDelimiter = *f.TargetDelimiter
	}
	if f.FewshotDelimiter != nil {
		t.FewshotDelimiter = *f.FewshotDelimiter
	}
	switch f.OutputType {
	case "":
	case string(MultipleChoice):
		t.Type = MultipleChoice
	case string(Perplexity), "perplexity":
		t.Type = Perplexity
	case string(GenerateUntil):
		t.Type = GenerateUntil
	default:
		return nil, fmt.Errorf("%s: %w: output_type %q (want multiple_choice, loglikelihood_rolling or generate_until)", source, ErrFormat, f.OutputType)
	}
	t.FewshotSplit, t.FewshotSampler = f.FewshotSplit, f.FewshotConfig.Sampler
	if err := parseGeneration(t, &f, source); err != nil {
		return nil, err
	}
	for _, n := range f.MetricList {
		var name string
		switch n.Kind {
		case yaml.ScalarNode:
			name = n.Value
		case yaml.MappingNode:
			var m metricEntry
			if err := n.Decode(&m); err != nil {
				return nil, fmt.Errorf("%s:%d: %w: %v", source, n.Line, ErrFormat, err)
			}
			name = m.Metric
			if err := m.apply(&t.Match); err != nil {
				return nil, fmt.Errorf("%s:%d: %w: %v", source, n.Line, ErrFormat, err)
			}
		}
		if name == "" {
			return nil, fmt.Errorf("%s:%d: %w: metric_list entries are names or {metric: name}", source, n.Line, ErrFormat)
		}
		t.Metrics = append(t.Metrics, name)
	}
	var err error
	if t.Docs, err = yamlDocs(f.Docs, source); err != nil {
		return nil, err
	}
	if t.FewshotDocs, err = yamlDocs(f.FewshotDocs, source); err != nil {
		return nil, err
	}
	for _, ref := range []struct {
		path string
		dst  *[]Doc
	}{{f.DatasetPath, &t.Docs}, {f.FewshotPath, &t.FewshotDocs}} {
		if ref.path == "" {
			continue
		}
		if files == nil {
			return nil, fmt.Errorf("%s: %w: %q needs LoadTask", source, ErrFormat, ref.path)
		}
		p, err := files.resolve(dir, ref.path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		data, err := readFile(files, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		docs, err := ParseDocsJSONL(bytes.NewReader(data), p)
		if err != nil {
			return nil, err
		}
		*ref.dst = append(*ref.dst, docs...)
	}
	if err := t.init(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return t, nil
}

func yamlDocs(nodes []yaml.Node, source string) ([]Doc, error) {
	docs := make([]Doc, 0, len(nodes))
	for i := range nodes {
		var df docFile
		if err := nodes[i].Decode(&df); err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", source, nodes[i].Line, ErrFormat, err)
		}
		d, err := df.doc()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", source, nodes[i].Line, ErrFormat, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// ParseDocsJSONL reads one document per line (blank lines are skipped).
// source names the file in errors, which carry the line number.
func ParseDocsJSONL(r io.Reader, source string) ([]Doc, error) {
	var docs []Doc
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		dec.DisallowUnknownFields()
		var df docFile
		if err := dec.Decode(&df); err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", source, line, ErrFormat, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: %w: more than one JSON value on the line", source, line, ErrFormat)
		}
		d, err := df.doc()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w: %v", source, line, ErrFormat, err)
		}
		docs = append(docs, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return docs, nil
}

func (df *docFile) doc() (Doc, error) {
	d := Doc{Raw: df.Raw}
	if df.Target != nil {
		if df.Choices != nil || df.Text != nil || df.IDs != nil || df.Gold != nil {
			return d, errors.New("a generation document has context and target only")
		}
		if df.Context != nil {
			d.Context = *df.Context
		}
		d.Target = *df.Target
		return d, nil
	}
	if df.Choices != nil {
		if df.Text != nil || df.IDs != nil {
			return d, errors.New("a document has either choices or text/ids")
		}
		if len(df.Choices) == 0 {
			return d, errors.New("empty choices")
		}
		if df.Context != nil {
			d.Context = *df.Context
		}
		d.Choices = df.Choices
		gold, err := resolveGold(df.Gold, df.Choices)
		if err != nil {
			return d, err
		}
		d.Gold = gold
		return d, nil
	}
	if df.Context != nil || df.Gold != nil {
		return d, errors.New("context and gold need choices")
	}
	if df.Text == nil && df.IDs == nil {
		return d, errors.New("a document needs text, ids or choices")
	}
	if df.Text != nil {
		d.Text = *df.Text
	}
	for _, id := range df.IDs {
		if id < 0 {
			return d, fmt.Errorf("negative token id %d", id)
		}
	}
	if df.IDs != nil && len(df.IDs) == 0 {
		return d, errors.New("empty ids")
	}
	d.IDs = df.IDs
	return d, nil
}

// resolveGold turns a gold field (an index, a choice's text, or a list of
// indices) into indices; out-of-range golds are errors here, where lm-eval
// only warns and scores the document 0.
func resolveGold(v any, choices []string) ([]int, error) {
	index := func(v any) (int, error) {
		var f float64
		switch x := v.(type) {
		case int:
			f = float64(x)
		case json.Number:
			var err error
			if f, err = x.Float64(); err != nil {
				return 0, fmt.Errorf("gold %v: %v", x, err)
			}
		case float64:
			f = x
		default:
			return 0, fmt.Errorf("gold %v is not an index", v)
		}
		if f != math.Trunc(f) || f < 0 || f >= float64(len(choices)) {
			return 0, fmt.Errorf("gold %v out of range for %d choices", v, len(choices))
		}
		return int(f), nil
	}
	switch x := v.(type) {
	case nil:
		return nil, errors.New("missing gold")
	case string:
		for i, c := range choices {
			if c == x {
				return []int{i}, nil
			}
		}
		return nil, fmt.Errorf("gold %q is not one of the choices", x)
	case []any:
		if len(x) == 0 {
			return nil, errors.New("empty gold list")
		}
		out := make([]int, len(x))
		for i, e := range x {
			g, err := index(e)
			if err != nil {
				return nil, err
			}
			out[i] = g
		}
		return out, nil
	}
	g, err := index(v)
	if err != nil {
		return nil, err
	}
	return []int{g}, nil
}

// Validate infers a missing Type from the first document, checks every
// document against the type and fills in the default metrics. Score calls
// it; the loaders already have.
func (t *Task) Validate() error {
	return t.init()
}

func (t *Task) init() error {
	if t.Type == "" && len(t.Docs) > 0 {
		t.Type = Perplexity
		switch d := t.Docs[0]; {
		case d.Choices != nil:
			t.Type = MultipleChoice
		case d.Target != "" || d.Context != "":
			t.Type = GenerateUntil
		}
	}
	if t.Type == "" {
		return fmt.Errorf("%w: no documents and no output_type", ErrFormat)
	}
	for i, d := range append(t.Docs[:len(t.Docs):len(t.Docs)], t.FewshotDocs...) {
		if (d.Choices != nil) != (t.Type == MultipleChoice) || !d.fits(t.Type) {
			return fmt.Errorf("%w: document %d does not fit a %s task", ErrFormat, i+1, t.Type)
		}
		if err := d.check(); err != nil {
			return fmt.Errorf("%w: document %d: %v", ErrFormat, i+1, err)
		}
	}
	if t.NumFewshot < 0 || (t.NumFewshot > 0 && t.Type == Perplexity) {
		return fmt.Errorf("%w: num_fewshot %d for a %s task", ErrFormat, t.NumFewshot, t.Type)
	}
	if t.NumFewshot > 0 && len(t.FewshotDocs) == 0 && t.FewshotSplit != "" && t.FewshotSplit != "test" {
		return fmt.Errorf("%w: num_fewshot %d: %s takes its few-shot examples from its %s split, which this task does not hold", ErrFormat, t.NumFewshot, t.Name, t.FewshotSplit)
	}
	if k := t.NumFewshot; k > 0 {
		pool, need := len(t.FewshotDocs), k
		if pool == 0 {
			pool = len(t.Docs)
			if !t.FewshotKeepSelf {
				need = k + 1 // the scored document is not its own example
			}
		}
		if pool < need {
			return fmt.Errorf("%w: num_fewshot %d needs %d documents to draw examples from, have %d", ErrFormat, k, need, pool)
		}
	}
	switch t.FewshotSampler {
	case "", "first_n", "default":
	default:
		return fmt.Errorf("%w: fewshot_config sampler %q (want first_n or default)", ErrFormat, t.FewshotSampler)
	}
	if t.Type == GenerateUntil && t.Generation == nil {
		t.Generation = &Generation{Until: []string{t.FewshotDelimiter}}
	}
	if len(t.Metrics) == 0 {
		t.Metrics = append([]string(nil), defaultMetrics[t.Type]...)
	}
	known := MultipleChoiceMetrics
	switch t.Type {
	case Perplexity:
		known = PerplexityMetrics
	case GenerateUntil:
		known = GenerateMetrics
	}
	for _, m := range t.Metrics {
		ok := false
		for _, k := range known {
			ok = ok || m == k
		}
		if !ok {
			return fmt.Errorf("%w: metric %q is not one of %s for a %s task", ErrFormat, m, strings.Join(known, ", "), t.Type)
		}
	}
	return nil
}

// fits reports whether d has only the fields of a document of type tt.
func (d *Doc) fits(tt TaskType) bool {
	switch tt {
	case GenerateUntil:
		return d.Text == "" && d.IDs == nil
	case Perplexity:
		return d.Context == "" && d.Target == ""
	}
	return d.Target == "" && d.Text == "" && d.IDs == nil
}

// check is what Score relies on: golds inside the choices, ids present.
func (d *Doc) check() error {
	if d.Choices != nil {
		if len(d.Choices) == 0 || len(d.Gold) == 0 {
			return errors.New("no choices or no gold")
		}
		for _, g := range d.Gold {
			if g < 0 || g >= len(d.Choices) {
				return fmt.Errorf("gold %d out of range for %d choices", g, len(d.Choices))
			}
		}
		return nil
	}
	if d.IDs != nil && len(d.IDs) == 0 {
		return errors.New("empty ids")
	}
	for _, id := range d.IDs {
		if id < 0 {
			return fmt.Errorf("negative token id %d", id)
		}
	}
	return nil
}

var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
})

// readFile reads a file, decompressing it when its name ends in .zst.
func readFile(files *taskFiles, name string) ([]byte, error) {
	data, err := files.read(name)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(name, ".zst") {
		return data, nil
	}
	dec, err := zstdDecoder()
	if err != nil {
		return nil, err
	}
	out, err := dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: zstd: %w", name, err)
	}
	return out, nil
}
