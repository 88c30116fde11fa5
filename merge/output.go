package merge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// outputDir is a merge's output: files go into tmp, a hidden directory
// beside final, which replaces final only when everything is written.
type outputDir struct {
	final, tmp string
}

// outputNames matches the files a merge writes; an existing output
// directory holding only these may be replaced.
var outputNames = regexp.MustCompile(`^(model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json|` +
	`config\.json|README\.md|mergekit_config\.yml|tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|` +
	`added_tokens\.json|merges\.txt|vocab\.json|chat_template\.jinja|chat_template\.json|generation_config\.json|` +
	`video_preprocessor_config\.json)$`)

func newOutputDir(out string, models []*SourceModel) (*outputDir, error) {
	final, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		dir, err := filepath.Abs(m.Dir)
		if err != nil {
			return nil, err
		}
		if within(final, dir) || within(dir, final) {
			return nil, fmt.Errorf("output %s overlaps input model %s (%s); choose another directory", out, m.Ref.String(), m.Dir)
		}
	}
	if err := checkReplaceable(final); err != nil {
		return nil, err
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create output parent: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(final)+".partial-")
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	return &outputDir{final: final, tmp: tmp}, nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// checkReplaceable fails when final exists and holds anything but a
// previous merge's files.
func checkReplaceable(final string) error {
	entries, err := os.ReadDir(final)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", final, err)
	}
	for _, e := range entries {
		if e.IsDir() || !outputNames.MatchString(e.Name()) {
			return fmt.Errorf("output %s exists and holds %s, which a merge does not write; refusing to replace it", final, e.Name())
		}
	}
	return nil
}

func (o *outputDir) path(name string) string { return filepath.Join(o.tmp, name) }

// commit moves the finished output into place, replacing a previous
// merge's output.
func (o *outputDir) commit() error {
	if err := syncDir(o.tmp); err != nil {
		return err
	}
	var old string
	if _, err := os.Stat(o.final); err == nil {
		if err := checkReplaceable(o.final); err != nil {
			return err
		}
		old = o.tmp + ".old"
		if err := os.Rename(o.final, old); err != nil {
			return fmt.Errorf("replace output: %w", err)
		}
	}
	if err := os.Rename(o.tmp, o.final); err != nil {
		if old != "" {
			os.Rename(old, o.final)
		}
		return fmt.Errorf("move output into place: %w", err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return syncDir(filepath.Dir(o.final))
}

func (o *outputDir) abort() { os.RemoveAll(o.tmp) }

// writeFile writes a file into the output, syncing it.
func (o *outputDir) writeFile(name string, data []byte) error {
	f, err := os.Create(o.path(name))
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
