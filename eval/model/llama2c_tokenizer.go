package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
)

// ConvertLlama2CTokenizer converts a llama2.c tokenizer (tok512.bin: int32
// max_token_length, then per token a float32 score, an int32 length and the
// bytes) into a SentencePiece tokenizer.model and a tokenizer_config.json in
// outDir, so that the converted model can be scored on text. llama2.c's
// tokenizer is SentencePiece BPE exported with "▁" written as a space and
// BOS/EOS as "\n<s>\n" and "\n</s>\n"; the conversion undoes both. vocab is
// the model's vocabulary size.
func ConvertLlama2CTokenizer(tokPath, outDir string, vocab int) error {
	raw, err := regfile.ReadFile(tokPath, regfile.TokenizerLimit)
	if err != nil {
		return err
	}
	if len(raw) < 4 {
		return fmt.Errorf("%s: %w: too short", tokPath, ErrLlama2C)
	}
	type piece struct {
		text  string
		score float32
		kind  int // SentencePiece type: 1 normal, 2 unknown, 3 control, 6 byte
	}
	var pieces []piece
	off := 4
	for i := range vocab {
		if off+8 > len(raw) {
			return fmt.Errorf("%s: %w: token %d of %d is cut off", tokPath, ErrLlama2C, i, vocab)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(raw[off:]))
		n := int(int32(binary.LittleEndian.Uint32(raw[off+4:])))
		off += 8
		if n < 0 || off+n > len(raw) {
			return fmt.Errorf("%s: %w: token %d has length %d", tokPath, ErrLlama2C, i, n)
		}
		text := string(raw[off : off+n])
		off += n
		p := piece{text: strings.ReplaceAll(text, " ", "▁"), score: score, kind: 1}
		switch {
		case i == 0:
			p.text, p.kind = "<unk>", 2
		case i == 1:
			p.text, p.kind = "<s>", 3
		case i == 2:
			p.text, p.kind = "</s>", 3
		case len(text) == 6 && strings.HasPrefix(text, "<0x") && text[5] == '>':
			p.kind = 6
		}
		pieces = append(pieces, p)
	}
	var model []byte
	for _, p := range pieces {
		var sp []byte
		sp = protoBytes(sp, 1, []byte(p.text))
		sp = protoFixed32(sp, 2, math.Float32bits(p.score))
		sp = protoVarint(sp, 3, uint64(p.kind))
		model = protoBytes(model, 1, sp)
	}
	var trainer []byte
	trainer = protoVarint(trainer, 3, 2) // model_type: BPE
	trainer = protoVarint(trainer, 4, uint64(vocab))
	trainer = protoVarint(trainer, 35, 1)                      // byte_fallback
	trainer = protoVarint(trainer, 40, 0)                      // unk_id
	trainer = protoVarint(trainer, 41, 1)                      // bos_id
	trainer = protoVarint(trainer, 42, 2)                      // eos_id
	trainer = protoVarint(trainer, 43, uint64(math.MaxUint64)) // pad_id -1
	model = protoBytes(model, 2, trainer)
	var norm []byte
	norm = protoBytes(norm, 1, []byte("identity"))
	norm = protoVarint(norm, 3, 1) // add_dummy_prefix
	norm = protoVarint(norm, 4, 0) // remove_extra_whitespaces
	norm = protoVarint(norm, 5, 1) // escape_whitespaces
	model = protoBytes(model, 3, norm)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "tokenizer.model"), model, 0o644); err != nil {
		return err
	}
	cfg := map[string]any{"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
		"add_bos_token": true, "add_eos_token": false, "legacy": true, "model_max_length": 512}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "tokenizer_config.json"), append(data, '\n'), 0o644)
}

func protoKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func protoVarint(b []byte, field int, v uint64) []byte {
	return binary.AppendUvarint(protoKey(b, field, 0), v)
}

func protoFixed32(b []byte, field int, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(protoKey(b, field, 5), v)
}

func protoBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(protoKey(b, field, 2), uint64(len(v)))
	return append(b, v...)
}
