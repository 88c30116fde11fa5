package hub

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gomerge/gomerge/internal/regfile"
)

// FileSelector chooses which files of a repository Resolve makes local.
// files lists the repository's files ('/'-separated paths, sorted); read
// returns the contents of one of them, fetching it into the cache first if
// need be, for selectors that look inside index files. Every name it
// returns must be in files.
type FileSelector func(files []string, read func(name string) ([]byte, error)) ([]string, error)

// AllFiles selects every file of the repository.
func AllFiles(files []string, _ func(string) ([]byte, error)) ([]string, error) { return files, nil }

// Files selects the named files, which must all exist.
func Files(names ...string) FileSelector {
	return func([]string, func(string) ([]byte, error)) ([]string, error) { return names, nil }
}

// Well-known file names of a model repository.
const (
	ConfigFile          = "config.json"
	SafetensorsFile     = "model.safetensors"
	SafetensorsIndex    = "model.safetensors.index.json"
	PytorchFile         = "pytorch_model.bin"
	PytorchIndex        = "pytorch_model.bin.index.json"
	AdapterConfigFile   = "adapter_config.json"
	AdapterSafetensors  = "adapter_model.safetensors"
	AdapterPytorchFile  = "adapter_model.bin"
	chatTemplatesFolder = "additional_chat_templates/"
)

// MergeFiles selects what a merge reads from a model or adapter repository:
// every top-level .json file (config, generation config, tokenizer and its
// config, special tokens, indexes: mergekit downloads "*.json" too), the
// tokenizer's other files (tokenizer.model and other SentencePiece models,
// vocab.txt, merges.txt, *.tiktoken, chat templates), and the weights: the
// shards model.safetensors.index.json names, or model.safetensors, or
// else the shards of pytorch_model.bin.index.json, or pytorch_model.bin,
// or else any other top-level *.safetensors; plus adapter_model.safetensors
// (or adapter_model.bin) of a LoRA adapter. Unlike mergekit's patterns it
// skips duplicate checkpoints (consolidated.safetensors, original/*.pth),
// optimizer states and training_args.bin. A repository with neither model
// nor adapter weights is an error wrapping ErrNoWeights.
func MergeFiles(files []string, read func(string) ([]byte, error)) ([]string, error) {
	out := smallFiles(files)
	w, err := weightFiles(files, read)
	if err != nil {
		return nil, err
	}
	out = append(out, w...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// smallFiles returns the non-weight files MergeFiles selects.
func smallFiles(files []string) []string {
	var out []string
	for _, f := range files {
		if strings.HasPrefix(f, chatTemplatesFolder) && strings.HasSuffix(f, ".jinja") && !strings.Contains(f[len(chatTemplatesFolder):], "/") {
			out = append(out, f)
		}
		if strings.Contains(f, "/") {
			continue
		}
		switch {
		case strings.HasSuffix(f, ".json"), strings.HasSuffix(f, ".tiktoken"), strings.HasSuffix(f, ".jinja"):
		case f == "tokenizer.model", f == "spiece.model", f == "sentencepiece.bpe.model",
			f == "vocab.txt", f == "merges.txt", strings.HasPrefix(f, "tokenizer.model."):
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// weightFiles picks the weight files as MergeFiles describes.
func weightFiles(files []string, read func(string) ([]byte, error)) ([]string, error) {
	has := make(map[string]bool, len(files))
	for _, f := range files {
		has[f] = true
	}
	var w []string
	if has[AdapterConfigFile] {
		switch {
		case has[AdapterSafetensors]:
			w = append(w, AdapterSafetensors)
		case has[AdapterPytorchFile]:
			w = append(w, AdapterPytorchFile)
		}
	}
	var err error
	var shards []string
	switch {
	case has[SafetensorsIndex]:
		shards, err = indexShards(SafetensorsIndex, read, has)
	case has[SafetensorsFile]:
		shards = []string{SafetensorsFile}
	case has[PytorchIndex]:
		shards, err = indexShards(PytorchIndex, read, has)
	case has[PytorchFile]:
		shards = []string{PytorchFile}
	default:
		for _, f := range files {
			if !strings.Contains(f, "/") && strings.HasSuffix(f, ".safetensors") && f != AdapterSafetensors {
				shards = append(shards, f)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	w = append(w, shards...)
	if len(w) == 0 {
		list := files
		if len(list) > 20 {
			list = append(slices.Clip(list[:20]), fmt.Sprintf("and %d more", len(files)-20))
		}
		return nil, fmt.Errorf("%w: none of %s, %s, %s, %s or %s (with %s) among its files: %s", ErrNoWeights,
			SafetensorsIndex, SafetensorsFile, PytorchIndex, PytorchFile, AdapterSafetensors, AdapterConfigFile,
			strings.Join(list, ", "))
	}
	return w, nil
}

// indexShards returns the shard files an index's weight_map names.
func indexShards(index string, read func(string) ([]byte, error), has map[string]bool) ([]string, error) {
	data, err := read(index)
	if err != nil {
		return nil, err
	}
	wm, err := parseWeightMap(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	var shards []string
	for _, s := range wm {
		shards = append(shards, s)
	}
	slices.Sort(shards)
	shards = slices.Compact(shards)
	for _, s := range shards {
		if !has[s] {
			return nil, fmt.Errorf("%s names shard %q, which the repository does not have: %w", index, s, ErrFileNotFound)
		}
	}
	return shards, nil
}

// parseWeightMap reads the weight_map of a model.safetensors.index.json or
// pytorch_model.bin.index.json, refusing shard names outside the folder.
func parseWeightMap(data []byte) (map[string]string, error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, err
	}
	if idx.WeightMap == nil {
		return nil, errors.New("no weight_map")
	}
	for name, s := range idx.WeightMap {
		if err := checkFileName(s); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
	}
	return idx.WeightMap, nil
}

// Resolve returns a local snapshot directory of repository repo at revision
// (a branch, tag or commit hash; "" means "main") that holds the files the
// selector picks; nil means MergeFiles. It downloads what the cache lacks,
// records refs/REVISION, and, offline, uses the cache alone. If the hub
// cannot be reached (or refuses, as for a gated model without a token) but
// the cache holds the selected files of the revision, it uses them, as
// huggingface_hub does.
func (c *Client) Resolve(ctx context.Context, repo, revision string, files FileSelector) (string, error) {
	s, err := c.resolve(ctx, repo, revision, files)
	if err != nil {
		return "", err
	}
	return s.dir, nil
}

// snapshotInfo is what resolve learns about a snapshot.
type snapshotInfo struct {
	repo, revision, commit string
	dir                    string
	ch                     cache
	files                  map[string]repoFile // nil when it came from the cache alone
}

func (c *Client) resolve(ctx context.Context, repo, revision string, sel FileSelector) (*snapshotInfo, error) {
	if !IsRepoID(repo) {
		return nil, fmt.Errorf("hub: %q is neither a local directory nor a valid Hugging Face repository id (ORG/NAME)", repo)
	}
	if revision == "" {
		revision = "main"
	}
	if err := checkRevision(revision); err != nil {
		return nil, err
	}
	if sel == nil {
		sel = MergeFiles
	}
	ch := newCache(c.cacheDir(), repo)
	if c.Offline {
		return c.resolveCached(ch, revision, sel)
	}
	// A commit never changes, and a fresh ref is trusted: a complete cached
	// snapshot of either needs no request.
	cached, cerr := c.resolveCached(ch, revision, sel)
	if cerr == nil && (IsCommit(revision) || ch.refFresh(revision, c.RefMaxAge)) {
		return cached, nil
	}
	infoCtx, retries, timeout := ctx, c.retries(), time.Duration(0)
	if cerr == nil {
		// The cache can serve the revision: ask the hub whether it moved,
		// but do not wait long for an answer, nor retry.
		retries, timeout = 0, c.metadataTimeout()
	}
	if c.ReachTimeout > 0 {
		retries, timeout = 0, min(c.ReachTimeout, cmp.Or(timeout, c.ReachTimeout))
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		infoCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	commit, listing, err := c.fetchRepoInfo(infoCtx, repo, revision, retries)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, ErrRevisionNotFound) {
			return nil, err
		}
		if cerr == nil {
			c.logger().Warn("hub: cannot reach the hub, using the cached snapshot", "repo", repo, "revision", revision, "err", err)
			return cached, nil
		}
		var na *noAnswerError
		if !errors.As(err, &na) {
			return nil, err
		}
		return nil, c.unreachable(ch, revision, timeout, na.err)
	}
	s := &snapshotInfo{repo: repo, revision: revision, commit: commit, dir: ch.snapshot(commit), ch: ch, files: listing}
	if err := c.fetchSnapshot(ctx, s, sel); err != nil {
		return nil, err
	}
	if err := ch.writeRef(revision, commit); err != nil {
		// A read-only cache still serves its files.
		c.logger().Warn("hub: cannot record the revision's commit", "repo", repo, "revision", revision, "err", err)
	}
	return s, nil
}

// unreachable explains why a revision the cache lacks cannot be had: the
// hub did not answer. It matches ErrUnreachable and the cause.
func (c *Client) unreachable(ch cache, revision string, timeout time.Duration, err error) error {
	how := ""
	if timeout > 0 {
		how = fmt.Sprintf(" (asked once, for at most %s)", timeout)
	}
	// The URL is the endpoint's; the cause is what the user can act on.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("hub: %s@%s: not in the Hugging Face cache %s, and %s did not answer%s: %w: %w",
		ch.repo, revision, ch.root, c.endpoint(), how, ErrUnreachable, err)
}

// fetchSnapshot makes the selected files of a listed snapshot local.
func (c *Client) fetchSnapshot(ctx context.Context, s *snapshotInfo, sel FileSelector) error {
	names := make([]string, 0, len(s.files))
	for n := range s.files {
		names = append(names, n)
	}
	slices.Sort(names)
	read := func(name string) ([]byte, error) {
		f, ok := s.files[name]
		if !ok {
			return nil, fmt.Errorf("hub: %s@%s has no file %q: %w", s.repo, s.revision, name, ErrFileNotFound)
		}
		if err := c.fetchFile(ctx, s.ch, s.commit, f, nil); err != nil {
			return nil, err
		}
		return regfile.ReadFile(s.ch.pointer(s.commit, name), regfile.ConfigLimit)
	}
	selected, err := sel(names, read)
	if err != nil {
		return fmt.Errorf("hub: %s@%s: %w", s.repo, s.revision, err)
	}
	prog := &progressState{fn: c.Progress, repo: s.repo}
	var todo []repoFile
	for _, name := range selected {
		f, ok := s.files[name]
		if !ok {
			return fmt.Errorf("hub: %s@%s has no file %q: %w", s.repo, s.revision, name, ErrFileNotFound)
		}
		if _, err := os.Stat(s.ch.pointer(s.commit, name)); err == nil {
			continue
		}
		todo = append(todo, f)
		prog.total += max(f.Size, 0)
	}
	if err := os.MkdirAll(s.dir, 0o777); err != nil {
		return err
	}
	if free, ok := freeSpace(s.ch.dir); ok && prog.total > free {
		c.logger().Warn("hub: not enough free disk space for the download", "repo", s.repo,
			"need_bytes", prog.total, "free_bytes", free, "cache", s.ch.root)
	}
	// Large files first, so that the slowest download starts at once.
	slices.SortStableFunc(todo, func(a, b repoFile) int { return compareInt64(b.Size, a.Size) })
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency())
	for _, f := range todo {
		g.Go(func() error { return c.fetchFile(gctx, s.ch, s.commit, f, prog) })
	}
	return g.Wait()
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// resolveCached finds the selected files of a revision in the cache alone.
func (c *Client) resolveCached(ch cache, revision string, sel FileSelector) (*snapshotInfo, error) {
	notCached := func(why string) error {
		msg := fmt.Sprintf("hub: %s@%s: %s in the Hugging Face cache %s", ch.repo, revision, why, ch.root)
		if c.Offline {
			msg += " (" + c.offlineHint(ch.repo) + ")"
		}
		return &classError{msg: msg, class: ErrNotCached}
	}
	commit := revision
	if !IsCommit(revision) {
		var err error
		if commit, err = ch.readRef(revision); err != nil {
			return nil, err
		}
		if commit == "" {
			return nil, notCached(fmt.Sprintf("no record of revision %q (refs/%s)", revision, revision))
		}
	}
	dir := ch.snapshot(commit)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, notCached("no snapshot of commit " + commit)
	} else if err != nil {
		return nil, err
	}
	names, err := listSnapshot(dir)
	if err != nil {
		return nil, err
	}
	has := make(map[string]bool, len(names))
	for _, n := range names {
		has[n] = true
	}
	read := func(name string) ([]byte, error) {
		if !has[name] {
			return nil, fmt.Errorf("no %s: %w", name, ErrFileNotFound)
		}
		return regfile.ReadFile(filepath.Join(dir, filepath.FromSlash(name)), regfile.ConfigLimit)
	}
	selected, err := sel(names, read)
	if errors.Is(err, ErrNoWeights) || errors.Is(err, ErrFileNotFound) || errors.Is(err, ErrNotCached) {
		return nil, notCached(fmt.Sprintf("snapshot %s is incomplete (%v)", commit, err))
	}
	if err != nil {
		return nil, fmt.Errorf("hub: %s@%s: %w", ch.repo, revision, err)
	}
	var missing []string
	for _, n := range selected {
		if !has[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, notCached(fmt.Sprintf("snapshot %s lacks %s", commit, strings.Join(missing, ", ")))
	}
	return &snapshotInfo{repo: ch.repo, revision: revision, commit: commit, dir: dir, ch: ch}, nil
}
