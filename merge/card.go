package merge

import (
	"fmt"
	"strings"
)

// modelCard renders README.md in the layout of mergekit's model cards, so
// that the Hub lists the merge like a mergekit one.
func modelCard(plan *Plan, title string, seed uint64, fixes []string) string {
	var hub []string
	for _, m := range plan.Models {
		if isHubID(m) {
			hub = append(hub, m.Ref.Path)
		}
	}
	var b strings.Builder
	b.WriteString("---\n")
	// mergekit writes "base_model: []" for local models; an empty list
	// says nothing, so it is left out.
	if len(hub) > 0 {
		b.WriteString("base_model:\n")
		for _, h := range hub {
			fmt.Fprintf(&b, "- %s\n", h)
		}
	}
	b.WriteString("library_name: transformers\ntags:\n- mergekit\n- merge\n- gomerge\n\n---\n")
	fmt.Fprintf(&b, "# %s\n\n", title)
	b.WriteString("This is a merge of pre-trained language models created using [gomerge](https://github.com/gomerge/gomerge), " +
		"a Go implementation of [mergekit](https://github.com/cg123/mergekit).\n\n")
	b.WriteString("## Merge Details\n### Merge Method\n\n")
	m := plan.Method
	name := m.Pretty
	if m.URL != "" {
		name = fmt.Sprintf("[%s](%s)", m.Pretty, m.URL)
	}
	fmt.Fprintf(&b, "This model was merged using the %s merge method", name)
	if base := plan.Config.BaseModel; base != nil && m.Name != "slerp" {
		for _, sm := range plan.Models {
			if sm.Ref.Equal(*base) {
				fmt.Fprintf(&b, " using %s as a base", modelLink(sm))
			}
		}
	}
	b.WriteString(".\n\n")
	if UsesRandomness(m) {
		fmt.Fprintf(&b, "Random masks were drawn with `--random-seed %d`.\n\n", seed)
	}
	b.WriteString("### Models Merged\n\nThe following models were included in the merge:\n")
	for _, sm := range plan.Models {
		if base := plan.Config.BaseModel; base != nil && sm.Ref.Equal(*base) && m.Name != "slerp" {
			continue
		}
		fmt.Fprintf(&b, "* %s\n", modelLink(sm))
	}
	var made, wrong []string
	for _, f := range fixes {
		if strings.Contains(f, " -> ") {
			made = append(made, f)
		} else {
			wrong = append(wrong, f)
		}
	}
	if len(fixes) > 0 {
		b.WriteString("\n### Special Tokens\n")
	}
	if len(made) > 0 {
		b.WriteString("\ngomerge made the special-token ids of config.json and generation_config.json " +
			"agree with the tokenizer and chat template, so that generation stops at the end of a turn:\n\n")
		for _, f := range made {
			fmt.Fprintf(&b, "* %s\n", f)
		}
	}
	if len(wrong) > 0 {
		b.WriteString("\n**Warning:** the special tokens of this model are inconsistent (`gomerge doctor` reports it):\n\n")
		for _, f := range wrong {
			fmt.Fprintf(&b, "* %s\n", f)
		}
	}
	b.WriteString("\n### Configuration\n\nThe following YAML configuration was used to produce this model:\n\n```yaml\n")
	b.Write(plan.Config.Raw)
	if !strings.HasSuffix(string(plan.Config.Raw), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("```\n")
	return b.String()
}

// isHubID reports whether a model came from the Hugging Face hub rather
// than a local directory named in the config, by mergekit's rule: no
// leading / or ~, at most one /, and not a local directory.
func isHubID(m *SourceModel) bool {
	path := m.Ref.Path
	if strings.HasPrefix(path, "/") || strings.HasPrefix(path, "~") || strings.Count(path, "/") > 1 {
		return false
	}
	return !m.Local
}

func modelLink(m *SourceModel) string {
	if isHubID(m) {
		return fmt.Sprintf("[%s](https://huggingface.co/%s)", m.Ref.Path, m.Ref.Path)
	}
	return m.Ref.Path
}

// UsesRandomness reports whether a method draws random masks, so that its
// result depends on the seed.
func UsesRandomness(m *Method) bool {
	switch m.Name {
	case "dare_ties", "dare_linear", "della", "della_linear", "arcee_fusion":
		return true
	}
	return false
}
