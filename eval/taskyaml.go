package eval

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// yaml.v3 checks the keys of every mapping it decodes into a Go value for
// duplicates by comparing each key with every other: a task file with a
// mapping of 100,000 keys took minutes. tidyTask goes over the file's node
// tree once instead, checking keys with a set, dropping the keys that are
// ignored, and refusing large mappings where the format has none, so that
// what is left to decode has a handful of keys per mapping.

// yamlMaxKeys is the most keys a mapping may have where the task format
// expects a value (the format's own mappings have at most a dozen).
const yamlMaxKeys = 64

var (
	taskFileKeys = keySet("task", "output_type", "description", "target_delimiter", "fewshot_delimiter", "num_fewshot",
		"metric_list", "docs", "dataset_path", "fewshot_docs", "fewshot_path", "license",
		"fewshot_split", "fewshot_config", "generation_kwargs", "filter_list")
	docFileKeys = keySet("text", "ids", "context", "choices", "gold", "target")
	metricKeys  = keySet("metric", "ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore")
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys)+1)
	for _, k := range keys {
		m[k] = true
	}
	m["<<"] = true // a merge key, which yaml.v3 resolves
	return m
}

// tidyTask prepares the root node of a task file for decoding into
// taskFile: unknown keys are errors, as with KnownFields.
func tidyTask(root *yaml.Node) (*yaml.Node, error) {
	if root.Kind != yaml.MappingNode {
		return root, checkSmall(root, map[*yaml.Node]bool{})
	}
	t, err := tidyMapping(root, taskFileKeys, true)
	if err != nil {
		return nil, err
	}
	seen := map[*yaml.Node]bool{}
	for i := 0; i+1 < len(t.Content); i += 2 {
		v := t.Content[i+1]
		switch t.Content[i].Value {
		case "docs", "fewshot_docs", "metric_list":
			if v.Kind == yaml.SequenceNode {
				if v, err = tidyList(v, t.Content[i].Value, seen); err != nil {
					return nil, err
				}
				t.Content[i+1] = v
				continue
			}
		}
		if err := checkSmall(v, seen); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// tidyList tidies the entries of docs, fewshot_docs or metric_list, whose
// unknown keys are ignored.
func tidyList(n *yaml.Node, key string, seen map[*yaml.Node]bool) (*yaml.Node, error) {
	keys := docFileKeys
	if key == "metric_list" {
		keys = metricKeys
	}
	out := *n
	out.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			if err := checkSmall(e, seen); err != nil {
				return nil, err
			}
			out.Content[i] = e
			continue
		}
		t, err := tidyMapping(e, keys, false)
		if err != nil {
			return nil, err
		}
		for j := 1; j < len(t.Content); j += 2 {
			if err := checkSmall(t.Content[j], seen); err != nil {
				return nil, err
			}
		}
		out.Content[i] = t
	}
	return &out, nil
}

// tidyMapping returns a copy of mapping n with the keys in keep, refusing
// a key given twice and, when strict, a key not in keep.
func tidyMapping(n *yaml.Node, keep map[string]bool, strict bool) (*yaml.Node, error) {
	out := *n
	out.Content = nil
	at := make(map[string]int, min(len(n.Content)/2, 1024))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a string", k.Line)
		}
		if line, dup := at[k.Value]; dup {
			return nil, fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, line)
		}
		at[k.Value] = k.Line
		if !keep[k.Value] {
			if strict {
				return nil, fmt.Errorf("line %d: field %s not found in type eval.taskFile", k.Line, k.Value)
			}
			continue
		}
		out.Content = append(out.Content, k, n.Content[i+1])
	}
	return &out, nil
}

// checkSmall refuses a mapping of more than yamlMaxKeys keys in n, where
// the task format expects no such mapping.
func checkSmall(n *yaml.Node, seen map[*yaml.Node]bool) error {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	if n.Kind == yaml.MappingNode && len(n.Content)/2 > yamlMaxKeys {
		return fmt.Errorf("line %d: a mapping of %d keys, where the task format has a value of a few", n.Line, len(n.Content)/2)
	}
	if n.Kind == yaml.AliasNode {
		return checkSmall(n.Alias, seen)
	}
	for _, c := range n.Content {
		if err := checkSmall(c, seen); err != nil {
			return err
		}
	}
	return nil
}
