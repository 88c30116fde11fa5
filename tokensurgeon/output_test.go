package tokensurgeon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/internal/outdir"
)

// TestOutputNeverAnInput: the transplant and the alignment refuse an
// output that is one of their inputs, also when reached through a symbolic
// link, and an existing model directory they did not write, before
// anything is read or written.
func TestOutputNeverAnInput(t *testing.T) {
	base, donor, _, _ := surgeryPair(t)
	root := filepath.Dir(base)
	here := filepath.Join(root, "here")
	if err := os.Symlink(".", here); err != nil {
		t.Skip(err)
	}
	other := filepath.Join(t.TempDir(), "other")
	chatModel(t, other, 8, nil)
	sums := func() map[string]string {
		m := map[string]string{}
		for _, dir := range []string{base, donor, other} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				m[filepath.Join(dir, e.Name())] = string(b)
			}
		}
		return m
	}
	before := sums()
	outs := []string{
		filepath.Join(here, filepath.Base(base)),
		filepath.Join(here, filepath.Base(donor)),
		filepath.Join(here, filepath.Base(base), "sub"),
		other,
	}
	for _, out := range outs {
		_, err := Transplant(context.Background(), base, donor, out, TransplantOptions{Method: Mean})
		if !errors.Is(err, outdir.ErrRefused) {
			t.Errorf("Transplant to %s: err = %v", out, err)
		}
		if out == outs[2] {
			continue // base/sub is no input of the alignment, and new: allowed
		}
		_, err = AlignSpecial(other, "", out, AlignOptions{})
		if !errors.Is(err, outdir.ErrRefused) {
			t.Errorf("AlignSpecial to %s: err = %v", out, err)
		}
	}
	if _, err := AlignSpecial(other, "", other, AlignOptions{Overwrite: true}); !errors.Is(err, outdir.ErrRefused) {
		t.Errorf("AlignSpecial onto its input with Overwrite: err = %v", err)
	}
	after := sums()
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files added or removed: %d -> %d", len(before), len(after))
	}
}
