package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomerge/gomerge/internal/regfile"
)

// RepoFolder returns the cache folder name of a model repository,
// "models--ORG--NAME", as huggingface_hub's repo_folder_name.
func RepoFolder(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

// cache is one repository's folder in the hub cache.
type cache struct {
	root string // CacheDir
	repo string
	dir  string // root/models--ORG--NAME
}

func newCache(root, repo string) cache {
	return cache{root: root, repo: repo, dir: filepath.Join(root, RepoFolder(repo))}
}

func (c cache) snapshot(commit string) string { return filepath.Join(c.dir, "snapshots", commit) }

func (c cache) pointer(commit, file string) string {
	return filepath.Join(c.snapshot(commit), filepath.FromSlash(file))
}

func (c cache) blob(etag string) string { return filepath.Join(c.dir, "blobs", etag) }

func (c cache) lockPath(etag string) string {
	return filepath.Join(c.root, ".locks", RepoFolder(c.repo), etag+".lock")
}

// readRef returns the commit that refs/REV names, "" if none.
func (c cache) readRef(rev string) (string, error) {
	b, err := regfile.ReadFile(filepath.Join(c.dir, "refs", filepath.FromSlash(rev)), regfile.ConfigLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(b))
	if !IsCommit(commit) {
		return "", fmt.Errorf("%s: refs/%s holds %q, not a commit hash", c.dir, rev, commit)
	}
	return commit, nil
}

// refFresh reports whether refs/REV was written or confirmed less than
// maxAge ago; never when maxAge is not positive.
func (c cache) refFresh(rev string, maxAge time.Duration) bool {
	if maxAge <= 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(c.dir, "refs", filepath.FromSlash(rev)))
	return err == nil && time.Since(fi.ModTime()) < maxAge
}

// writeRef records that rev pointed at commit, atomically and only if it
// changed, as huggingface_hub's _cache_commit_hash_for_specific_revision
// does (the file holds the hash without a newline).
func (c cache) writeRef(rev, commit string) error {
	if rev == commit {
		return nil
	}
	p := filepath.Join(c.dir, "refs", filepath.FromSlash(rev))
	if old, err := c.readRef(rev); err == nil && old == commit {
		now := time.Now()
		os.Chtimes(p, now, now) // confirmed: fresh again (see refFresh)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(commit)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	os.Chmod(tmp.Name(), 0o644)
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// cacheDirTag marks the cache for backup tools, as huggingface_hub does.
const cacheDirTag = "Signature: 8a477f597d28d172789f06886806bc55\n" +
	"# This file is a cache directory tag created by huggingface_hub.\n" +
	"# For information about cache directory tags, see:\n" +
	"#\thttps://bford.info/cachedir/\n"

func (c cache) tag() {
	p := filepath.Join(c.root, "CACHEDIR.TAG")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		os.WriteFile(p, []byte(cacheDirTag), 0o666)
	}
}

// link makes snapshots/COMMIT/FILE point at blobs/ETAG with a relative
// symlink; where symlinks are not possible it copies the blob.
func (c cache) link(commit, file, etag string) error {
	dst := c.pointer(commit, file)
	src := c.blob(etag)
	if err := os.MkdirAll(filepath.Dir(dst), 0o777); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(dst), src)
	if err != nil {
		rel = src
	}
	os.Remove(dst)
	err = os.Symlink(rel, dst)
	if err == nil || errors.Is(err, fs.ErrExist) && sameFile(dst, src) {
		return nil
	}
	return copyFile(src, dst)
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func copyFile(src, dst string) error {
	in, err := regfile.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// listSnapshot returns the files of a cached snapshot, '/'-separated and
// relative to it; symlinks whose blob is missing are left out.
func listSnapshot(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	return files, err
}

// checkFileName refuses repository file names that would escape the
// snapshot directory; the names come from the network.
func checkFileName(name string) error {
	if name == "" || strings.Contains(name, "\\") || strings.HasPrefix(name, "/") ||
		path.Clean(name) != name || !filepath.IsLocal(filepath.FromSlash(name)) {
		return fmt.Errorf("hub: refusing file name %q: not a plain path inside the repository", name)
	}
	return nil
}

// checkRevision refuses revisions that cannot name a file under refs/.
func checkRevision(rev string) error {
	if rev == "" || strings.Contains(rev, "\\") || path.Clean(rev) != rev || !filepath.IsLocal(filepath.FromSlash(rev)) {
		return fmt.Errorf("hub: invalid revision %q", rev)
	}
	return nil
}

// checkEtag refuses ETags that cannot be a blob file name.
func checkEtag(etag string) error {
	if etag == "" || strings.ContainsAny(etag, `/\:*?"<>|`) || etag == "." || etag == ".." || len(etag) > 200 {
		return fmt.Errorf("hub: unusable ETag %q", etag)
	}
	return nil
}

// lockFile takes the lock huggingface_hub takes around a blob's download,
// an flock on .locks/models--ORG--NAME/ETAG.lock, so that neither two gomerge
// processes nor gomerge and Python download the same blob at once.
func (c cache) lockFile(ctx context.Context, etag string) (unlock func(), err error) {
	p := c.lockPath(etag)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return nil, err
	}
	return lockPath(ctx, p)
}
