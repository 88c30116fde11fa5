package evolve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Files of the storage directory.
const (
	BestConfigFile = "best_config.yaml"
	EvalsFile      = "evals.jsonl"
	CheckpointFile = "checkpoint.json"
	LockFile       = "evolve.lock"
	FinalModelDir  = "final_model"
)

// ErrLocked is matched (errors.Is) by the error of a run whose storage
// directory is held by another running evolve.
var ErrLocked = errors.New("storage path is in use by another gomerge evolve")

// Eval is one line of evals.jsonl: a scored (or failed) candidate.
type Eval struct {
	ID         string    `json:"id"`
	Generation int       `json:"generation"`
	Genotype   []float64 `json:"genotype"`
	// Scores are task name → metric → value.
	Scores map[string]map[string]float64 `json:"scores,omitempty"`
	// Score is the weighted sum, or PenaltyScore when Error is set.
	Score float64 `json:"score"`
	// Error says why the candidate could not be scored.
	Error   string  `json:"error,omitempty"`
	Worker  string  `json:"worker,omitempty"`
	Seconds float64 `json:"seconds"`
}

// writeAtomic replaces path with data so that a crash leaves the old file
// or the new one, never a torn one: a temporary file beside it, synced,
// renamed over it, and the directory synced.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeTemps deletes the temporary files of atomic writes that a killed
// run left in dir; the caller holds the storage lock, so none is being
// written.
func removeTemps(dir string, log *slog.Logger) {
	for _, name := range []string{BestConfigFile, CheckpointFile} {
		temps, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
		for _, t := range temps {
			if err := os.Remove(t); err == nil {
				log.Info("removed the leftover of an interrupted write", "file", t)
			}
		}
	}
}

// evalLog is evals.jsonl opened for appending, one synced line per
// candidate.
type evalLog struct {
	path string
	f    *os.File
}

// openEvalLog reads the candidates already scored and opens the file for
// appending. A last line cut short by a crash is dropped from the file,
// so that later lines start on a line of their own.
func openEvalLog(path string) (*evalLog, []Eval, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	var evals []Eval
	good := 0 // bytes of complete, parsed lines
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if good+len(b) >= len(data) { // no newline after it: torn
			break
		}
		var e Eval
		if err := json.Unmarshal(b, &e); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		evals = append(evals, e)
		good += len(b) + 1
	}
	if good < len(data) {
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("drop the torn last line of %s: %w", path, err)
		}
	}
	if _, err := f.Seek(int64(good), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &evalLog{path: path, f: f}, evals, nil
}

// append writes one line and syncs it.
func (l *evalLog) append(e Eval) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("candidate %s: %w", e.ID, err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("append to %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", l.path, err)
	}
	return nil
}

func (l *evalLog) close() error { return l.f.Close() }
