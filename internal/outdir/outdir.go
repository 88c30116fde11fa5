// Package outdir writes a command's output directory so that no run can
// lose a user's model.
//
// Files go into a hidden staging directory beside OUT (".OUT.partial-N"),
// locked while its writer lives. [Dir.Commit] writes a marker file listing
// what was written, then renames the staging directory into place; a
// previous output is moved aside first and removed last. OUT is refused
// when it overlaps an input (paths compared after resolving symbolic
// links, and by device and inode), when it holds anything gomerge did not
// write (unless [Options.Overwrite]), and when it contains the working
// directory. Leftovers of runs that died (kill -9, power loss) are found
// by the next [Create] or by [Clean]: an interrupted commit is finished,
// staging directories whose writer is gone are removed, each with a log
// line.
package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gomerge/gomerge/internal/regfile"
)

// MarkerName is the file gomerge writes into every output directory it
// commits. Its presence is what lets a later run replace that directory.
const MarkerName = ".gomerge-output.json"

// ErrRefused is matched (errors.Is) by every error that refuses an output
// path before anything is written: overlap with an input, a directory
// gomerge did not write, an empty path.
var ErrRefused = errors.New("output refused")

// RefusedError says why an output path was refused.
type RefusedError struct {
	Out    string // the output path as given
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Out == "" {
		return "output: " + e.Reason
	}
	return "output " + e.Out + ": " + e.Reason
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

func refused(out, format string, args ...any) error {
	return &RefusedError{Out: out, Reason: fmt.Sprintf(format, args...)}
}

// Options configure [Create].
type Options struct {
	// Inputs are the directories and files the run reads; OUT may
	// neither be inside one nor contain one.
	Inputs []string
	// Overwrite allows replacing an existing OUT that gomerge did not
	// write. Inputs are protected regardless.
	Overwrite bool
	// Tool names the writer ("gomerge merge"); it is recorded in the
	// marker.
	Tool string
	// Version is the writer's version, recorded in the marker.
	Version string
	// Logger receives what recovery did; nil means slog.Default().
	Logger *slog.Logger
}

// Dir is an output directory being written.
type Dir struct {
	out   string // as given
	final string // resolved absolute path
	tmp   string
	lock  *lock
	opt   Options
	done  bool
}

// marker is the content of MarkerName.
type marker struct {
	Tool    string    `json:"tool"`
	Version string    `json:"version,omitempty"`
	Written time.Time `json:"written"`
	Files   []string  `json:"files"`
}

// Create checks out against the inputs and what is already there, recovers
// the leftovers of earlier runs into the same path, and opens a locked
// staging directory beside it.
func Create(out string, opt Options) (*Dir, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	final, err := Resolve(out)
	if err != nil {
		return nil, err
	}
	if err := checkInputs(out, final, opt.Inputs); err != nil {
		return nil, err
	}
	if _, err := recoverLeftovers(final, opt.Logger); err != nil {
		return nil, fmt.Errorf("output %s: %w", out, err)
	}
	if err := checkReplaceable(out, final, opt.Overwrite); err != nil {
		return nil, err
	}
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create output parent: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(final)+partialInfix)
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	l, err := lockDir(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create output: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		l.release()
		os.RemoveAll(tmp)
		return nil, err
	}
	return &Dir{out: out, final: final, tmp: tmp, lock: l, opt: opt}, nil
}

const partialInfix = ".partial-"

// Resolve gives the absolute path out names once every symbolic link in
// it is followed: the nearest existing ancestor is resolved and the rest
// appended. A dangling link, or an existing non-directory, is refused.
func Resolve(out string) (string, error) {
	if strings.TrimSpace(out) == "" {
		return "", refused("", "the output path is empty")
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", fmt.Errorf("output %s: %w", out, err)
	}
	var rest []string
	p := abs
	for {
		fi, err := os.Lstat(p)
		if err == nil {
			if fi.Mode()&fs.ModeSymlink != 0 {
				if _, err := os.Stat(p); err != nil {
					return "", refused(out, "%s is a symbolic link whose target cannot be reached (%v)", p, err)
				}
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", fmt.Errorf("output %s: %w", out, err)
			}
			slices.Reverse(rest)
			final := filepath.Join(append([]string{real}, rest...)...)
			if len(rest) == 0 {
				if st, err := os.Stat(final); err == nil && !st.IsDir() {
					return "", refused(out, "%s exists and is not a directory", final)
				}
			} else if st, err := os.Stat(real); err == nil && !st.IsDir() {
				return "", refused(out, "%s is not a directory", real)
			}
			return final, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return "", fmt.Errorf("output %s: %w", out, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs, nil
		}
		rest = append(rest, filepath.Base(p))
		p = parent
	}
}

// checkInputs refuses a final path that is, contains or lies inside an
// input, comparing resolved paths and the device and inode of every
// existing ancestor (bind mounts and hard-to-see aliases), and one that
// contains the working directory.
func checkInputs(out, final string, inputs []string) error {
	if wd, err := os.Getwd(); err == nil {
		if real, err := filepath.EvalSymlinks(wd); err == nil && within(real, final) {
			return refused(out, "%s contains the current directory %s; choose another directory", final, real)
		}
	}
	finalIDs := ancestorIDs(final)
	for _, in := range inputs {
		if in == "" {
			continue
		}
		abs, err := filepath.Abs(in)
		if err != nil {
			continue
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			real = abs
		}
		if within(final, real) || within(real, final) {
			return refused(out, "overlaps input %s (%s); choose another directory", in, real)
		}
		if id, ok := fileID(real); ok {
			if _, inside := finalIDs[id]; inside {
				return refused(out, "lies inside input %s (same directory under another path); choose another directory", in)
			}
		}
		if fid, ok := fileID(final); ok {
			if _, inside := ancestorIDs(real)[fid]; inside {
				return refused(out, "contains input %s (same directory under another path); choose another directory", in)
			}
		}
		if err := checkEntries(out, final, in, real); err != nil {
			return err
		}
	}
	return nil
}

// checkEntries refuses a final path holding a file that an input
// directory's entries link to (a model whose weights are symbolic links
// into OUT, as a hub snapshot links into its blobs).
func checkEntries(out, final, in, real string) error {
	st, err := os.Stat(real)
	if err != nil || !st.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(real)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		target, err := filepath.EvalSymlinks(filepath.Join(real, e.Name()))
		if err != nil {
			continue
		}
		if within(target, final) {
			return refused(out, "holds %s, which input %s reads through %s; choose another directory", target, in, e.Name())
		}
	}
	return nil
}

// within reports whether path is dir or inside it; both are clean and
// absolute.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// ancestorIDs gives the device and inode of p, if it exists, and of each
// of its existing ancestors.
func ancestorIDs(p string) map[devIno]struct{} {
	ids := map[devIno]struct{}{}
	for {
		if id, ok := fileID(p); ok {
			ids[id] = struct{}{}
		}
		parent := filepath.Dir(p)
		if parent == p {
			return ids
		}
		p = parent
	}
}

// checkReplaceable refuses an existing final directory that gomerge did
// not write, unless overwrite.
func checkReplaceable(out, final string, overwrite bool) error {
	entries, err := os.ReadDir(final)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output %s: %w", out, err)
	}
	if len(entries) == 0 || overwrite {
		return nil
	}
	m, err := readMarker(final)
	if err != nil {
		if legacyOutput(final, entries) {
			return nil
		}
		return refused(out, "%s exists and was not written by gomerge (no %s in it); refusing to replace it: "+
			"choose another directory, or pass --overwrite to replace it", final, MarkerName)
	}
	for _, e := range entries {
		if e.Name() == MarkerName {
			continue
		}
		if !slices.Contains(m.Files, e.Name()) {
			return refused(out, "%s holds %s, which gomerge did not write there; refusing to replace it: "+
				"move it away, or pass --overwrite to replace the directory", final, e.Name())
		}
	}
	return nil
}

func readMarker(dir string) (*marker, error) {
	data, err := readSmall(filepath.Join(dir, MarkerName), 1<<20)
	if err != nil {
		return nil, err
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", MarkerName, err)
	}
	return &m, nil
}

// readSmall reads a regular file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return os.ReadFile(path)
}

// legacyNames are the files merges of gomerge versions before the marker
// wrote.
var legacyNames = regexp.MustCompile(`^(model(-\d{5}-of-\d{5})?\.safetensors|model\.safetensors\.index\.json|` +
	`config\.json|README\.md|mergekit_config\.yml|tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|` +
	`added_tokens\.json|merges\.txt|vocab\.json|chat_template\.jinja|chat_template\.json|generation_config\.json)$`)

// legacyOutput recognises a merge written by a gomerge version before the
// marker: only merge output files, and gomerge's model card.
func legacyOutput(dir string, entries []fs.DirEntry) bool {
	for _, e := range entries {
		if !e.Type().IsRegular() || !legacyNames.MatchString(e.Name()) {
			return false
		}
	}
	card, err := readSmall(filepath.Join(dir, "README.md"), 1<<20)
	return err == nil && strings.Contains(string(card), "\n- gomerge\n") &&
		strings.Contains(string(card), "created using [gomerge]")
}

// Path is the path of a file named name in the staging directory.
func (d *Dir) Path(name string) string { return filepath.Join(d.tmp, name) }

// Tmp is the staging directory.
func (d *Dir) Tmp() string { return d.tmp }

// Final is the resolved path the output will have.
func (d *Dir) Final() string { return d.final }

// WriteFile writes a file into the staging directory and syncs it.
func (d *Dir) WriteFile(name string, data []byte) error {
	f, err := os.Create(d.Path(name))
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

// Commit marks the staging directory complete and moves it into place,
// replacing a previous output only if it may still be replaced.
func (d *Dir) Commit() error {
	if d.done {
		return errors.New("output already committed or aborted")
	}
	if err := d.writeMarker(); err != nil {
		return err
	}
	if err := syncDir(d.tmp); err != nil {
		return err
	}
	crashPoint("marked")
	var old string
	if _, err := os.Lstat(d.final); err == nil {
		if err := checkReplaceable(d.out, d.final, d.opt.Overwrite); err != nil {
			return err
		}
		old = d.tmp + oldSuffix
		if err := os.Rename(d.final, old); err != nil {
			return fmt.Errorf("replace output %s: %w", d.final, err)
		}
		crashPoint("moved-aside")
	}
	if err := os.Rename(d.tmp, d.final); err != nil {
		if old != "" {
			os.Rename(old, d.final)
		}
		return fmt.Errorf("move output into place: %w", err)
	}
	d.done = true
	crashPoint("renamed")
	if old != "" {
		os.RemoveAll(old)
	}
	err := syncDir(filepath.Dir(d.final))
	d.lock.release()
	return err
}

const oldSuffix = ".old"

// CrashHook, when set (by tests only), is called at each step of a
// commit: "marked", "moved-aside", "renamed". Crash-recovery tests kill
// the process there.
var CrashHook func(step string)

func crashPoint(step string) {
	if CrashHook != nil {
		CrashHook(step)
	}
}

func (d *Dir) writeMarker() error {
	entries, err := os.ReadDir(d.tmp)
	if err != nil {
		return err
	}
	m := marker{Tool: d.opt.Tool, Version: d.opt.Version, Written: time.Now().UTC().Truncate(time.Second), Files: []string{}}
	for _, e := range entries {
		if e.Name() != MarkerName {
			m.Files = append(m.Files, e.Name())
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return d.WriteFile(MarkerName, append(data, '\n'))
}

// Abort removes the staging directory; after Commit it does nothing.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.tmp)
	d.lock.release()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// CopyFile copies the regular file src to dst and syncs it: how tokenizer
// and side files enter a staging directory.
func CopyFile(src, dst string) error {
	in, err := regfile.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}
