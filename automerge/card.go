package automerge

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/hub"
)

// displayName is a model reference as a short name: a hub id's repository,
// a directory's base name, a model+lora's model.
func displayName(ref string) string {
	if a, _, ok := strings.Cut(ref, "+"); ok {
		ref = a
	}
	return filepath.Base(strings.TrimRight(ref, `/\`))
}

var (
	wordRE = regexp.MustCompile(`[A-Za-z][a-z]*|[0-9]+[A-Za-z]*`)
	sizeRE = regexp.MustCompile(`^(?i)[0-9]+(\.[0-9]+)?[bmk]$|^[0-9]+x[0-9]+[bmk]$`)
)

// fragments splits a model name into its words, and the size suffix
// ("7B", "260K") if there is one.
func fragments(name string) (words []string, size string) {
	for _, w := range wordRE.FindAllString(name, -1) {
		switch {
		case sizeRE.MatchString(w):
			if size == "" {
				size = strings.ToUpper(w)
			}
		case w[0] >= '0' && w[0] <= '9':
		case strings.EqualFold(w, "v"):
		default:
			words = append(words, w)
		}
	}
	return words, size
}

// ChildName names a child AutoMerger-style: the first word of the first
// parent joined to the last of the second, the size suffix of the parents
// ("MeliodasPercival-7B"), made unique against taken with a counter
// ("_02", "_03", …).
func ChildName(a, b string, taken func(string) bool) string {
	wa, sa := fragments(displayName(a))
	wb, sb := fragments(displayName(b))
	title := func(w []string, last bool) string {
		if len(w) == 0 {
			return "Model"
		}
		s := w[0]
		if last {
			s = w[len(w)-1]
		}
		r := []rune(strings.ToLower(s))
		r[0] = unicode.ToUpper(r[0])
		if len(r) > 12 {
			r = r[:12]
		}
		return string(r)
	}
	base := title(wa, false) + title(wb, true)
	if base == "ModelModel" {
		base = "Merge"
	}
	if sa != "" && sa == sb {
		base += "-" + sa
	}
	name := base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s_%02d", base, i)
	}
	return name
}

// Card renders a child's model card in LazyMergekit's layout: front matter
// with the license, tags and base models, the parents, the YAML config,
// the scores table, the lineage and a usage snippet.
func Card(name, org string, run *leaderboard.Run, lineage []string) string {
	var b strings.Builder
	var hubIDs []string
	for _, p := range run.Parents {
		if m := displayRef(p); hub.IsRepoID(m) && !filepath.IsAbs(m) {
			hubIDs = append(hubIDs, m)
		}
	}
	b.WriteString("---\nlicense: apache-2.0\ntags:\n- merge\n- mergekit\n- lazymergekit\n- automerger\n- gomerge\n")
	for _, h := range hubIDs {
		fmt.Fprintf(&b, "- %s\n", h)
	}
	if len(hubIDs) > 0 {
		b.WriteString("base_model:\n")
		for _, h := range hubIDs {
			fmt.Fprintf(&b, "- %s\n", h)
		}
	}
	b.WriteString("---\n\n")
	fmt.Fprintf(&b, "# %s\n\n", name)
	fmt.Fprintf(&b, "%s is an automated merge created by [gomerge automerge](https://github.com/gomerge/gomerge) "+
		"(run %d, method %s, seed %d) using the following models:\n", name, run.ID, run.Method, run.Seed)
	for _, p := range run.Parents {
		fmt.Fprintf(&b, "* %s\n", modelLink(p))
	}
	b.WriteString("\n## 🧩 Configuration\n\n```yaml\n")
	b.WriteString(run.Config)
	if !strings.HasSuffix(run.Config, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("```\n\n## 🏆 Evaluation\n\n")
	if run.Score != nil {
		fmt.Fprintf(&b, "Weighted score: **%.6g** (Σ metric × weight; higher is better).\n\n", *run.Score)
	}
	b.WriteString("| Task | Metric | Value | Weight |\n|---|---|---:|---:|\n")
	var credits []string
	for _, s := range run.Scores {
		fmt.Fprintf(&b, "| %s | %s | %.6g | %g |\n", s.Task, s.Metric, s.Value, s.Weight)
		if a := eval.Attribution(s.Task); a != "" && !slices.Contains(credits, a) {
			credits = append(credits, a)
		}
	}
	if len(credits) > 0 {
		b.WriteString("\nTask data credits (built-in gomerge tasks):\n\n")
		for _, a := range credits {
			fmt.Fprintf(&b, "* %s\n", a)
		}
	}
	if len(lineage) > 0 {
		b.WriteString("\n## 🌳 Lineage\n\n")
		for _, l := range lineage {
			t := strings.TrimLeft(l, " ")
			fmt.Fprintf(&b, "%s* %s\n", l[:len(l)-len(t)], t)
		}
	}
	repo := name
	if org != "" {
		repo = org + "/" + name
	}
	fmt.Fprintf(&b, "\n## 💻 Usage\n\n```python\n!pip install -qU transformers accelerate\n\n"+
		"from transformers import AutoTokenizer\nimport transformers\nimport torch\n\n"+
		"model = %q\nmessages = [{\"role\": \"user\", \"content\": \"What is a large language model?\"}]\n\n"+
		"tokenizer = AutoTokenizer.from_pretrained(model)\n"+
		"prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)\n"+
		"pipeline = transformers.pipeline(\n    \"text-generation\",\n    model=model,\n    torch_dtype=torch.float16,\n    device_map=\"auto\",\n)\n\n"+
		"outputs = pipeline(prompt, max_new_tokens=256, do_sample=True, temperature=0.7, top_k=50, top_p=0.95)\n"+
		"print(outputs[0][\"generated_text\"])\n```\n", repo)
	return b.String()
}

func displayRef(ref string) string {
	if a, _, ok := strings.Cut(ref, "+"); ok {
		return a
	}
	return ref
}

// modelLink is a parent as the card lists it: a hub id links to the hub.
func modelLink(ref string) string {
	m := displayRef(ref)
	if hub.IsRepoID(m) && !filepath.IsAbs(m) {
		return fmt.Sprintf("[%s](https://huggingface.co/%s)", ref, m)
	}
	return ref
}

// Lineage lists the ancestors of a run: each parent, and for a parent that
// is an earlier child, its own parents, recursively.
func Lineage(run *leaderboard.Run, byPath map[string]*leaderboard.Run) []string {
	var out []string
	var walk func(r *leaderboard.Run, depth int, seen []int64)
	walk = func(r *leaderboard.Run, depth int, seen []int64) {
		for _, p := range r.Parents {
			child, ok := byPath[p]
			if !ok || slices.Contains(seen, child.ID) {
				out = append(out, strings.Repeat("  ", depth)+displayName(p))
				continue
			}
			out = append(out, fmt.Sprintf("%s%s (run %d, %s)", strings.Repeat("  ", depth), child.Name, child.ID, child.Method))
			walk(child, depth+1, append(seen, child.ID))
		}
	}
	walk(run, 0, []int64{run.ID})
	return out
}
