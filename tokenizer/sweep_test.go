package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// sweepCodePoints are the code points of tools/tokoracle/sweep.js.
func sweepCodePoints() []rune {
	var cps []rune
	for c := rune(0); c < 0x20000; c++ {
		if c < 0xD800 || c >= 0xE000 {
			cps = append(cps, c)
		}
	}
	return append(cps, 0xE0001, 0xE0020, 0xE0100, 0xF0000, 0x10FFFD)
}

// TestCodePointSweep encodes "x" c "y" c c " 1'" c "\n" for 129029 code
// points c and compares per-block digests of the ids with the Rust crate's
// (testdata/tokenizers/expected/sweep_FAMILY.txt): every code point meets
// the split regexes, normalizers and byte fallback once.
func TestCodePointSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cps := sweepCodePoints()
	for _, f := range []family{families[0], families[1], families[2], families[4]} {
		t.Run(f.name, func(t *testing.T) {
			tk := loadFamily(t, f)
			data, err := os.ReadFile("../testdata/tokenizers/expected/sweep_" + f.name + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Fields(string(data))
			if len(want) != 2*((len(cps)+255)/256) {
				t.Fatalf("sweep file has %d fields for %d code points", len(want), len(cps))
			}
			bad := 0
			var block strings.Builder
			for i := 0; i < len(cps); i += 256 {
				block.Reset()
				for k := i; k < min(i+256, len(cps)); k++ {
					if k > i {
						block.WriteByte('\n')
					}
					s := string(cps[k])
					block.Write(appendJSONInts(nil, tk.Encode("x"+s+"y"+s+s+" 1'"+s+"\n", false)))
				}
				sum := sha256.Sum256([]byte(block.String()))
				b := i / 256
				if start := strconv.FormatInt(int64(cps[i]), 16); want[2*b] != start || want[2*b+1] != hex.EncodeToString(sum[:8]) {
					bad++
					if bad <= 5 {
						t.Errorf("block from U+%04X differs from the Rust crate (rerun tools/tokoracle/sweep.js to see which code point)", cps[i])
					}
				}
			}
			t.Logf("%s: %d/%d blocks of 256 code points agree", f.name, len(want)/2-bad, len(want)/2)
		})
	}
}

func appendJSONInts(b []byte, ids []int) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%d", id)
	}
	return append(b, ']')
}
