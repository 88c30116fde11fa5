package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Action is one thing [Clean] (or [Create]) did to the leftovers of an
// earlier run.
type Action struct {
	// Path is the leftover acted on.
	Path string `json:"path"`
	// Did is what happened: "removed", "finished commit", "restored",
	// "kept (writer running)".
	Did string `json:"did"`
	// Bytes is the size of what was removed.
	Bytes int64 `json:"bytes,omitempty"`
}

// Clean recovers the leftovers of runs into out that died: a commit cut
// off between its two renames is finished (or the previous output put
// back), staging directories whose writer is gone are removed. Staging
// directories of runs still going are kept. Each action is logged.
func Clean(out string, log *slog.Logger) ([]Action, error) {
	if log == nil {
		log = slog.Default()
	}
	final, err := Resolve(out)
	if err != nil {
		return nil, err
	}
	return recoverLeftovers(final, log)
}

// leftover is one ".NAME.partial-N" directory and its ".old" sibling.
type leftover struct {
	partial, old       string
	hasPartial, hasOld bool
}

func recoverLeftovers(final string, log *slog.Logger) ([]Action, error) {
	parent, base := filepath.Dir(final), filepath.Base(final)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	prefix := "." + base + partialInfix
	found := map[string]*leftover{}
	var order []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !e.IsDir() {
			continue
		}
		id := strings.TrimPrefix(name, prefix)
		isOld := strings.HasSuffix(id, oldSuffix)
		id = strings.TrimSuffix(id, oldSuffix)
		if id == "" || strings.Trim(id, "0123456789") != "" {
			continue
		}
		l := found[id]
		if l == nil {
			l = &leftover{partial: filepath.Join(parent, prefix+id), old: filepath.Join(parent, prefix+id+oldSuffix)}
			found[id] = l
			order = append(order, id)
		}
		if isOld {
			l.hasOld = true
		} else {
			l.hasPartial = true
		}
	}
	var acts []Action
	for _, id := range order {
		a, err := recoverOne(final, found[id], log)
		acts = append(acts, a...)
		if err != nil {
			return acts, err
		}
	}
	return acts, nil
}

func recoverOne(final string, l *leftover, log *slog.Logger) ([]Action, error) {
	var acts []Action
	if l.hasPartial {
		lk, err := tryLockDir(l.partial)
		if errors.Is(err, errLocked) {
			log.Info("output: keeping the staging directory of a run still writing", "path", l.partial)
			return []Action{{Path: l.partial, Did: "kept (writer running)"}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("inspect %s: %w", l.partial, err)
		}
		defer lk.release()
		_, markErr := os.Stat(filepath.Join(l.partial, MarkerName))
		complete := markErr == nil
		_, finalErr := os.Lstat(final)
		finalExists := finalErr == nil
		if complete && !finalExists {
			// The commit was cut off after the previous output was moved
			// aside (or there was none): the new output is complete.
			if err := os.Rename(l.partial, final); err != nil {
				return nil, fmt.Errorf("finish the interrupted commit of %s: %w", final, err)
			}
			syncDir(filepath.Dir(final))
			log.Warn("output: finished an interrupted commit: the complete output of an earlier run moved into place",
				"from", l.partial, "to", final)
			acts = append(acts, Action{Path: l.partial, Did: "finished commit"})
			l.hasPartial = false
		} else {
			n := du(l.partial)
			if err := os.RemoveAll(l.partial); err != nil {
				return nil, fmt.Errorf("remove %s: %w", l.partial, err)
			}
			log.Warn("output: removed a staging directory left by an interrupted run",
				"path", l.partial, "MB", fmt.Sprintf("%.1f", float64(n)/1e6))
			acts = append(acts, Action{Path: l.partial, Did: "removed", Bytes: n})
			l.hasPartial = false
		}
	}
	if l.hasOld {
		if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(l.old, final); err != nil {
				return acts, fmt.Errorf("restore the previous output %s: %w", final, err)
			}
			syncDir(filepath.Dir(final))
			log.Warn("output: restored the previous output an interrupted run had moved aside", "from", l.old, "to", final)
			return append(acts, Action{Path: l.old, Did: "restored"}), nil
		}
		n := du(l.old)
		if err := os.RemoveAll(l.old); err != nil {
			return acts, fmt.Errorf("remove %s: %w", l.old, err)
		}
		log.Warn("output: removed the previous output an interrupted run had replaced", "path", l.old,
			"MB", fmt.Sprintf("%.1f", float64(n)/1e6))
		acts = append(acts, Action{Path: l.old, Did: "removed", Bytes: n})
	}
	return acts, nil
}

// du is the allocated size of the files under dir.
func du(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
