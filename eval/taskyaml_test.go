package eval

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseTaskYAMLManyKeys: yaml.v3 compares every pair of keys of a
// mapping it decodes, which took minutes for these; the test has no
// timing assertion: a quadratic parser makes it time out.
func TestParseTaskYAMLManyKeys(t *testing.T) {
	const n = 200_000
	var keys strings.Builder
	for i := range n {
		fmt.Fprintf(&keys, ", k%d: %d", i, i)
	}
	// Unknown keys of a document are ignored.
	yml := "output_type: multiple_choice\ndocs:\n  - {context: a, choices: [x, y], gold: 1" + keys.String() + "}\n"
	task, err := ParseTaskYAML([]byte(yml), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Docs) != 1 || task.Docs[0].Gold[0] != 1 {
		t.Errorf("docs = %+v", task.Docs)
	}
	for _, tc := range []struct{ name, yml, err string }{
		{"unknown top-level keys", "output_type: multiple_choice" + strings.ReplaceAll(keys.String(), ", ", "\n") + "\n", "line 2: field k0 not found"},
		{"large mapping as a value", "task: {a: 1" + keys.String() + "}\n", "line 1: a mapping of 200001 keys"},
		{"large gold", "output_type: multiple_choice\ndocs:\n  - {context: a, choices: [x, y], gold: {a: 1" + keys.String() + "}}\n", "line 3: a mapping of 200001 keys"},
		{"duplicate key", "task: a\ntask: b\n", `line 2: mapping key "task" already defined at line 1`},
		{"duplicate document key", "output_type: multiple_choice\ndocs:\n  - {context: a, choices: [x], gold: 0, gold: 0}\n", `mapping key "gold" already defined`},
	} {
		if _, err := ParseTaskYAML([]byte(tc.yml), "t.yaml"); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestParseTaskYAMLMetricEntries(t *testing.T) {
	task, err := ParseTaskYAML([]byte("output_type: multiple_choice\nmetric_list: [{metric: acc, aggregation: mean}, acc_norm]\ndocs: [{context: a, choices: [x], gold: 0}]\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(task.Metrics, ",") != "acc,acc_norm" {
		t.Errorf("metrics = %v", task.Metrics)
	}
}
