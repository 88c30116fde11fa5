package merge

import (
	"encoding/json"
	"strings"
)

// configVocabSize is a model's vocabulary size from its config.json (the
// architecture's key, else vocab_size), or -1.
func configVocabSize(m *SourceModel) int {
	key := "vocab_size"
	if m.Arch != nil && m.Arch.VocabSizeKey != "" {
		key = m.Arch.VocabSizeKey
	}
	v, ok := configValue(m.Config, key)
	if !ok {
		return -1
	}
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return -1
		}
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// configValue reads a dotted key path.
func configValue(cfg map[string]any, key string) (any, bool) {
	parts := strings.Split(key, ".")
	var cur any = cfg
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}
