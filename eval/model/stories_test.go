package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const storiesDir = "../../testdata/stories260K"

// llama2cVocab reads a llama2.c tokenizer (tok512.bin): int32
// max_token_length, then per token a float32 score, an int32 length and
// the bytes.
func llama2cVocab(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(data[4:])
	var vocab []string
	for r.Len() > 0 {
		var score float32
		var n int32
		if err := binary.Read(r, binary.LittleEndian, &score); err != nil {
			t.Fatal(err)
		}
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		vocab = append(vocab, string(b))
	}
	return vocab
}

// decodeLlama2C prints tokens as run.c does: a leading space is stripped
// after BOS (1), <0xNN> pieces are raw bytes, and single unprintable bytes
// are skipped (safe_printf).
func decodeLlama2C(vocab []string, ids []int) string {
	var sb strings.Builder
	for i := 1; i < len(ids); i++ {
		piece := vocab[ids[i]]
		if ids[i-1] == 1 && strings.HasPrefix(piece, " ") {
			piece = piece[1:]
		}
		var b byte
		if n, _ := fmt.Sscanf(piece, "<0x%02X>", &b); n == 1 {
			piece = string([]byte{b})
		}
		if len(piece) == 1 && !(piece[0] >= 0x20 && piece[0] < 0x7f || piece[0] == '\n' || piece[0] == '\t' || piece[0] == '\r' || piece[0] == ' ') {
			continue
		}
		sb.WriteString(piece)
	}
	return sb.String()
}

func storiesModel(t testing.TB) *Model {
	t.Helper()
	dir := t.TempDir()
	if err := ConvertLlama2C(filepath.Join(storiesDir, "stories260K.bin"), dir); err != nil {
		t.Fatal(err)
	}
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStories260K(t *testing.T) {
	m := storiesModel(t)
	ref := refTensors(t, filepath.Join(refDir, "stories260K.safetensors"))
	want := toInts(ref["greedy_ids"])

	logits, err := m.Logits(toInts(ref["input_ids"]))
	if err != nil {
		t.Fatal(err)
	}
	e := relErr(logits, ref["logits"])
	t.Logf("stories260K: logits relative error %.3g", e)
	if e > tol {
		t.Errorf("logits: relative error %.3g > %g", e, tol)
	}

	// run.c -n 200 prints 200 new tokens; transformers' reference holds
	// BOS and the first 199.
	gen, err := m.Generate([]int{m.BOS()}, 200)
	if err != nil {
		t.Fatal(err)
	}
	got := append([]int{m.BOS()}, gen...)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("greedy token %d: got %d, transformers %d", i, got[i], want[i])
		}
	}

	text := decodeLlama2C(llama2cVocab(t, filepath.Join(storiesDir, "tok512.bin")), got)
	exp, err := os.ReadFile(filepath.Join(storiesDir, "expected_greedy_200.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if text != string(exp) {
		t.Errorf("decoded greedy text differs from run.c's:\n got %q\nwant %q", text, exp)
	}
}

// TestGenerateMatchesLogits checks the KV cache: each generated token is
// the argmax of the full forward pass over everything before it.
func TestGenerateMatchesLogits(t *testing.T) {
	m := storiesModel(t)
	prompt := []int{1, 403, 407, 261}
	gen, err := m.Generate(prompt, 20)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]int(nil), prompt...), gen...)
	logits, err := m.Logits(all[:len(all)-1])
	if err != nil {
		t.Fatal(err)
	}
	V := m.VocabSize()
	for i := len(prompt) - 1; i < len(all)-1; i++ {
		row := logits[i*V : (i+1)*V]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best != all[i+1] {
			t.Fatalf("position %d: cached generation chose %d, full forward %d", i, all[i+1], best)
		}
	}
	stop, err := m.Generate(prompt, 20, gen[3])
	if err != nil {
		t.Fatal(err)
	}
	if len(stop) > 4 || stop[len(stop)-1] != gen[3] {
		t.Errorf("stop token %d: got %v", gen[3], stop)
	}
}

// TestLogProbs checks LogProbs and the batched forms against Logits.
func TestLogProbs(t *testing.T) {
	m := storiesModel(t)
	seqs := [][]int{{1, 403, 407, 261, 300, 10}, {1, 5}, {1, 70, 80, 90, 100, 110, 120, 130, 140}}
	lp, err := m.LogProbsBatch(seqs)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := m.LogitsBatch(seqs)
	if err != nil {
		t.Fatal(err)
	}
	V := m.VocabSize()
	for s, ids := range seqs {
		one, err := m.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(lb[s], one); e > 1e-6 {
			t.Errorf("sequence %d: batched logits differ by %.3g", s, e)
		}
		single, err := m.LogProbs(ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(lp[s]) != len(ids)-1 || len(single) != len(ids)-1 {
			t.Fatalf("sequence %d: %d and %d log-probs for %d ids", s, len(lp[s]), len(single), len(ids))
		}
		for i := 1; i < len(ids); i++ {
			row := one[(i-1)*V : i*V]
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v))
			}
			want := float64(row[ids[i]]) - math.Log(sum)
			if math.Abs(lp[s][i-1]-want) > 1e-5 || math.Abs(single[i-1]-want) > 1e-5 {
				t.Errorf("sequence %d token %d: log-prob %v (single %v), want %v", s, i, lp[s][i-1], single[i-1], want)
			}
		}
	}
}

// tinyLlama2C builds a valid llama2.c checkpoint: dim 4, hidden 6, 1 layer,
// 2 heads, 1 kv head, vocab 5 (negative when unshared), seq_len 3.
func tinyLlama2C(shared bool) []byte {
	dim, hidden, layers, heads, kv, vocab, seq := 4, 6, 1, 2, 1, 5, 3
	hd := dim / heads
	n := vocab*dim + layers*(2*dim+2*dim*dim+2*kv*hd*dim+3*dim*hidden) + dim + seq*hd
	v := int32(vocab)
	if !shared {
		n += vocab * dim
		v = -v
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, []int32{int32(dim), int32(hidden), int32(layers), int32(heads), int32(kv), v, int32(seq)})
	for i := range n {
		binary.Write(&b, binary.LittleEndian, float32(i%7)/7)
	}
	return b.Bytes()
}

func TestConvertLlama2CUnshared(t *testing.T) {
	for _, shared := range []bool{true, false} {
		bin := filepath.Join(t.TempDir(), "m.bin")
		if err := os.WriteFile(bin, tinyLlama2C(shared), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := ConvertLlama2C(bin, dir); err != nil {
			t.Fatal(err)
		}
		m, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if (m.head == m.embed) != shared {
			t.Errorf("shared %v: lm_head tied %v", shared, m.head == m.embed)
		}
		if _, err := m.Logits([]int{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		// A truncated file is an error naming the file.
		data := tinyLlama2C(shared)
		os.WriteFile(bin, data[:len(data)-4], 0o644)
		if err := ConvertLlama2C(bin, t.TempDir()); !errors.Is(err, ErrLlama2C) || !strings.Contains(err.Error(), bin) {
			t.Errorf("truncated: error %v", err)
		}
	}
}

func FuzzReadLlama2C(f *testing.F) {
	f.Add(tinyLlama2C(true))
	f.Add(tinyLlama2C(false))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := readLlama2C(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrLlama2C) {
				t.Fatalf("error %v does not wrap ErrLlama2C", err)
			}
			return
		}
		for name, v := range ck.tensors {
			n := int64(1)
			for _, s := range ck.shapes[name] {
				n *= s
			}
			if int64(len(v)) != n {
				t.Fatalf("%s: %d values for shape %v", name, len(v), ck.shapes[name])
			}
		}
	})
}

// TestConcurrentUse runs several scorings of one model at once (run with
// -race to check that they share nothing mutable).
func TestConcurrentUse(t *testing.T) {
	m := storiesModel(t)
	ids := []int{1, 403, 407, 261, 378, 300, 10, 20}
	want, err := m.LogProbs(ids)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := m.LogProbs(ids)
			if err == nil {
				for i := range got {
					if got[i] != want[i] {
						err = fmt.Errorf("log-prob %d: %v, alone %v", i, got[i], want[i])
						break
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestContinuationLogProbs(t *testing.T) {
	for _, name := range []string{"gemma2", "llama"} {
		m, err := Open(filepath.Join(refDir, "models", name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		context := []int{1, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130}
		conts := [][]int{{5}, {7, 8, 9}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
		got, err := m.ContinuationLogProbs(context, conts)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range conts {
			full, err := m.LogProbs(append(append([]int(nil), context...), c...))
			if err != nil {
				t.Fatal(err)
			}
			want := full[len(context)-1:]
			if len(got[i]) != len(want) {
				t.Fatalf("%s continuation %d: %d log-probs, want %d", name, i, len(got[i]), len(want))
			}
			for j := range want {
				if math.Abs(got[i][j]-want[j]) > 1e-5 {
					t.Errorf("%s continuation %d token %d: %v, want %v", name, i, j, got[i][j], want[j])
				}
			}
		}
	}
}
