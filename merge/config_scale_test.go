package merge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/regfile"
)

// cfgManyKeys is a config with n unknown top-level keys, and n/10 unknown
// keys in a models: entry and as many parameter names; the last key of the
// top level and of the models: entry is repeated, so that the duplicate-key
// check runs over whole mappings.
func cfgManyKeys(n int) []byte {
	nested := n / 10
	var b strings.Builder
	b.WriteString("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n")
	for i := range nested {
		fmt.Fprintf(&b, "    m%d: %d\n", i, i)
	}
	fmt.Fprintf(&b, "    m%d: dup\nparameters:\n", nested-1)
	for i := range nested {
		fmt.Fprintf(&b, "  p%d: %d\n", i, i)
	}
	for i := range n {
		fmt.Fprintf(&b, "k%d: %d\n", i, i)
	}
	fmt.Fprintf(&b, "k%d: dup\n", n-1)
	return []byte(b.String())
}

// TestParseConfigManyKeys parses 200,000 unknown top-level keys and
// 20,000 nested ones. The parser used to compare each key with every earlier one of its
// mapping, which took minutes here; the test has no timing assertion: a
// quadratic parser makes it time out.
func TestParseConfigManyKeys(t *testing.T) {
	const n = 200_000
	c, err := ParseConfig(cfgManyKeys(n), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Unknown keys of models: entries and the top level, and the two
	// duplicates; unknown parameter names are the planner's to check.
	nested := n / 10
	if want := n + nested + 2; len(c.Warnings) != want {
		t.Errorf("%d warnings, want %d", len(c.Warnings), want)
	}
	for _, w := range []string{
		fmt.Sprintf(`c.yml:%d:5: duplicate key "m%d": the last value is used`, 4+nested+1, nested-1),
		fmt.Sprintf(`c.yml:%d:1: duplicate key "k%d": the last value is used`, 4+nested+1+1+nested+n+1, n-1),
	} {
		found := false
		for _, got := range c.Warnings {
			found = found || got == w
		}
		if !found {
			t.Errorf("no warning %q", w)
		}
	}
	if c.Parameters.Len() != nested {
		t.Errorf("%d top-level parameters, want %d", c.Parameters.Len(), nested)
	}
}

func BenchmarkParseConfigManyKeys(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		data := cfgManyKeys(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := ParseConfig(data, "c.yml"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestConfigSizeBound(t *testing.T) {
	big := make([]byte, cfgMaxBytes+1)
	for i := range big {
		big[i] = '#' // one long comment: valid YAML however long
	}
	if _, err := ParseConfig(big, "c.yml"); err == nil || !strings.Contains(err.Error(), "c.yml: config too large") {
		t.Errorf("ParseConfig: err = %v", err)
	}
	if _, err := ParseMultiConfig(big, "m.yml"); err == nil || !strings.Contains(err.Error(), "m.yml: config too large") {
		t.Errorf("ParseMultiConfig: err = %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); !errors.Is(err, regfile.ErrTooLarge) {
		t.Errorf("LoadConfig: err = %v, want %v", err, regfile.ErrTooLarge)
	}
	// /dev/zero never ends: it must be refused, not read.
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, err := LoadConfig("/dev/zero"); !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("LoadConfig(/dev/zero): err = %v, want %v", err, regfile.ErrNotRegular)
		}
	}
}
