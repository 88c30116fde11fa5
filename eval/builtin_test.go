package eval

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBuiltinTasks(t *testing.T) {
	names := BuiltinTasks()
	want := map[string]TaskType{"de_ud_gsd_ppl": Perplexity, "de_ud_pud_order": MultipleChoice, "de_xquad_mc": MultipleChoice,
		"belebele_deu_Latn": MultipleChoice, "paws_de": MultipleChoice, "mgsm_direct_de": GenerateUntil, "mgsm_native_cot_de": GenerateUntil}
	// Each notice names the licence and the people to credit.
	credit := map[string]string{"de_ud_gsd_ppl": "creativecommons.org/licenses/by-sa/", "de_ud_pud_order": "creativecommons.org/licenses/by-sa/",
		"de_xquad_mc": "creativecommons.org/licenses/by-sa/", "belebele_deu_Latn": "Bandarkar",
		"paws_de": "Google LLC", "mgsm_direct_de": "creativecommons.org/licenses/by/4.0", "mgsm_native_cot_de": "Shi"}
	if len(names) != len(want) {
		t.Fatalf("BuiltinTasks() = %v", names)
	}
	for _, n := range names {
		task, err := Builtin(n)
		if err != nil {
			t.Fatal(err)
		}
		if task.Type != want[n] || len(task.Docs) < 200 || task.License == "" {
			t.Errorf("%s: type %s, %d docs, license %q", n, task.Type, len(task.Docs), task.License)
		}
		for i, d := range task.Docs {
			if !utf8.ValidString(d.Text) || (task.Type == MultipleChoice && len(d.Choices) < 2) {
				t.Fatalf("%s doc %d = %+v", n, i, d)
			}
		}
		notice, err := BuiltinNotice(n)
		if err != nil || !strings.Contains(notice, credit[n]) {
			t.Errorf("%s notice: %v %q", n, err, notice)
		}
	}
	for _, bad := range []string{"", "nope", "../data/de_xquad_mc", "de_xquad_mc.yaml"} {
		if _, err := Builtin(bad); err == nil {
			t.Errorf("Builtin(%q) succeeded", bad)
		}
	}
	if _, err := FindTask("testdata/saetze.jsonl"); err != nil {
		t.Error(err)
	}
	if _, err := FindTask("de_ud_gsd_ppl"); err != nil {
		t.Error(err)
	}
}

// The embedded data stay small.
func TestBuiltinSize(t *testing.T) {
	var total int64
	fs.WalkDir(builtinFS, "data", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return nil
	})
	// 136 KB of gomerge's own sets, 450 KB of the leaderboard sets
	// (Belebele, PAWS-X, MGSM: the harness's documents and the rendered
	// prompts).
	if total > 640<<10 {
		t.Errorf("embedded data %d bytes, budget 640 KiB", total)
	}
}

// With the sources at hand (../shared, or $GOMERGE_SHARED), go generate
// reproduces the committed files byte for byte.
func TestBuiltinRegenerates(t *testing.T) {
	shared := os.Getenv("GOMERGE_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "shared")
	}
	src := filepath.Join(shared, "testdata", "german")
	if _, err := os.Stat(src); err != nil {
		t.Skip("no German sources:", err)
	}
	bench := filepath.Join(shared, "testdata", "german-bench")
	if _, err := os.Stat(bench); err != nil {
		t.Skip("no German benchmark sources:", err)
	}
	out := t.TempDir()
	if err := runGendata(t, src, bench, out); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("data")
	for _, e := range ents {
		a, _ := os.ReadFile(filepath.Join("data", e.Name()))
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil || string(a) != string(b) {
			t.Errorf("%s differs from a fresh go generate (%v)", e.Name(), err)
		}
	}
}

func runGendata(t *testing.T, src, bench, out string) error {
	t.Helper()
	cmd := exec.Command("go", "run", "./internal/gendata", "-src", src, "-bench", bench, "-out", out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Log(string(b))
	}
	return err
}
