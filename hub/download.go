package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// fetchFile makes snapshots/COMMIT/FILE present: from the cache if it is
// there, else by downloading its blob. known is the API's description of
// the file, used to cross-check the hub's headers.
func (c *Client) fetchFile(ctx context.Context, ch cache, commit string, known repoFile, prog *progressState) error {
	file := known.Name
	if _, err := os.Stat(ch.pointer(commit, file)); err == nil {
		return nil
	}
	m, err := c.head(ctx, ch.repo, commit, file)
	if err != nil {
		return err
	}
	if m.commit != commit {
		return fmt.Errorf("hub: %s/%s: asked for commit %s, the hub answered for %s", ch.repo, file, commit, m.commit)
	}
	if known.Size >= 0 && known.Size != m.size {
		return fmt.Errorf("hub: %s/%s: the file list says %d bytes, the file's headers %d", ch.repo, file, known.Size, m.size)
	}
	if known.SHA256 != "" && len(m.etag) == 64 && known.SHA256 != m.etag {
		return fmt.Errorf("hub: %s/%s: the file list says sha256 %s, the file's headers %s", ch.repo, file, known.SHA256, m.etag)
	}
	if err := c.fetchBlob(ctx, ch, file, m, known, prog); err != nil {
		return err
	}
	return ch.link(commit, file, m.etag)
}

// fetchBlob downloads blobs/ETAG unless it exists, under the blob's lock.
func (c *Client) fetchBlob(ctx context.Context, ch cache, file string, m fileMeta, known repoFile, prog *progressState) error {
	blob := ch.blob(m.etag)
	if _, err := os.Stat(blob); err == nil {
		prog.skip(m.size)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(blob), 0o777); err != nil {
		return err
	}
	ch.tag()
	unlock, err := ch.lockFile(ctx, m.etag)
	if err != nil {
		return fmt.Errorf("hub: %s/%s: lock: %w", ch.repo, file, err)
	}
	defer unlock()
	if _, err := os.Stat(blob); err == nil { // another process finished it
		prog.skip(m.size)
		return nil
	}
	c.logger().Debug("hub: downloading", "repo", ch.repo, "file", file, "bytes", m.size)
	err = c.download(ctx, ch.repo, file, m, expectedDigests(m.etag, known), blob+".incomplete", prog)
	if err != nil {
		return err
	}
	return os.Rename(blob+".incomplete", blob)
}

// digest is a checksum a file must have.
type digest struct {
	algo string // "sha256" or "git-sha1"
	want string
	new  func(size int64) hash.Hash
}

// expectedDigests derives the checksums to verify from the ETag (the
// sha256 of an LFS file, the git blob sha1 of any other) and the API's LFS
// sha256. An ETag of another form (a mirror that is not the hub) is only
// checked for size.
func expectedDigests(etag string, known repoFile) []digest {
	var ds []digest
	sha := known.SHA256
	if isHex(etag, 64) {
		sha = etag
	}
	if sha != "" {
		ds = append(ds, digest{"sha256", sha, func(int64) hash.Hash { return sha256.New() }})
	}
	blobID := known.BlobID
	if isHex(etag, 40) {
		blobID = etag
	}
	if blobID != "" && sha == "" {
		ds = append(ds, digest{"git-sha1", blobID, func(size int64) hash.Hash {
			h := sha1.New()
			fmt.Fprintf(h, "blob %d\x00", size)
			return h
		}})
	}
	return ds
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// download fills the file at part with the bytes at m.location, resuming
// from whatever part already holds, and verifies the result. On a checksum
// mismatch it removes part; if the mismatch may come from an earlier,
// resumed attempt, it downloads once more from scratch.
func (c *Client) download(ctx context.Context, repo, file string, m fileMeta, ds []digest, part string, prog *progressState) error {
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return err
		}
		h := newHasher(ds, m.size)
		resumed, err := c.fill(ctx, f, repo, file, m, h, prog)
		if err == nil {
			err = f.Sync()
		}
		sums := h.sums()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err // part stays for the next run to resume
		}
		bad := -1
		for i, d := range ds {
			if sums[i] != d.want {
				bad = i
				break
			}
		}
		if bad < 0 {
			return nil
		}
		os.Remove(part)
		if resumed && attempt == 0 {
			c.logger().Warn("hub: resumed download failed verification, downloading again from the start", "repo", repo, "file", file)
			prog.add(-m.size)
			continue
		}
		return &ChecksumError{Repo: repo, File: file, Algorithm: ds[bad].algo, Want: ds[bad].want, Got: sums[bad]}
	}
}

// hasher computes a file's digests as its bytes arrive.
type hasher struct {
	ds   []digest
	size int64
	hs   []hash.Hash
	w    io.Writer
}

func newHasher(ds []digest, size int64) *hasher {
	h := &hasher{ds: ds, size: size}
	h.reset()
	return h
}

// reset starts over from the file's first byte.
func (h *hasher) reset() {
	h.hs = make([]hash.Hash, len(h.ds))
	ws := make([]io.Writer, len(h.ds))
	for i, d := range h.ds {
		h.hs[i] = d.new(h.size)
		ws[i] = h.hs[i]
	}
	h.w = io.MultiWriter(ws...)
}

func (h *hasher) Write(p []byte) (int, error) { return h.w.Write(p) }

func (h *hasher) sums() []string {
	sums := make([]string, len(h.hs))
	for i, x := range h.hs {
		sums[i] = hex.EncodeToString(x.Sum(nil))
	}
	return sums
}

// fill writes the remote file into f from f's current length on, with a
// Range request, retrying cut connections from where they stopped. It
// reports whether any bytes came from an earlier attempt.
func (c *Client) fill(ctx context.Context, f *os.File, repo, file string, m fileMeta, h *hasher, prog *progressState) (resumed bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	off := st.Size()
	if off > m.size {
		if err := f.Truncate(0); err != nil {
			return false, err
		}
		off = 0
	}
	resumed = off > 0
	if off > 0 {
		c.logger().Info("hub: resuming download", "repo", repo, "file", file, "from", off)
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, off)); err != nil {
			return false, err
		}
	}
	prog.add(off)
	tries, refreshed := 0, false
	for off < m.size {
		n, restart, err := c.getRange(ctx, f, repo, file, m, off, h, prog)
		off += n
		if restart {
			// The server ignored the Range header and sent the whole
			// file; getRange rewrote f from the start.
			prog.add(-off + n)
			off, resumed = n, false
		}
		if err == nil {
			continue
		}
		if n > 0 {
			tries, refreshed = 0, false // progress earns the retries back, as in huggingface_hub
		}
		var he *HTTPError
		if errors.As(err, &he) && !refreshed && expired(he) && m.location != c.resolveURL(repo, m.commit, file) {
			// The CDN's signed URL has expired (a long download was cut
			// late): ask the hub for a fresh one.
			fresh, herr := c.head(ctx, repo, m.commit, file)
			if herr != nil {
				return resumed, herr
			}
			if fresh.etag != m.etag || fresh.size != m.size {
				return resumed, fmt.Errorf("hub: %s/%s changed during the download (ETag %s, now %s)", repo, file, m.etag, fresh.etag)
			}
			m.location, refreshed = fresh.location, true
			continue
		}
		if ctx.Err() != nil || he != nil {
			return resumed, err
		}
		if tries >= c.retries() {
			return resumed, fmt.Errorf("hub: %s/%s: download stopped at byte %d of %d: %w (run again to resume)", repo, file, off, m.size, err)
		}
		c.logger().Warn("hub: download interrupted, resuming", "repo", repo, "file", file, "at", off, "err", err)
		if err := c.backoff(ctx, tries, nil); err != nil {
			return resumed, err
		}
		tries++
	}
	return resumed, nil
}

// expired reports whether a CDN refused a signed URL, as S3 and CloudFront
// do once it has expired.
func expired(e *HTTPError) bool {
	return e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized
}

// getRange GETs bytes off.. of the file and writes them to f at off and to
// h. It returns how many bytes it wrote and whether it had to start over
// from 0.
func (c *Client) getRange(ctx context.Context, f *os.File, repo, file string, m fileMeta, off int64, h *hasher, prog *progressState) (int64, bool, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	resp, err := c.do(ctx, c.httpClient(), func() (*http.Request, error) {
		req, err := c.newRequest(ctx, http.MethodGet, m.location)
		if err == nil && off > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
		}
		return req, err
	}, repo+"/"+file)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	restart := false
	switch resp.StatusCode {
	case http.StatusOK:
		restart = off > 0
		if restart {
			if err := f.Truncate(0); err != nil {
				return 0, false, err
			}
			off = 0
			h.reset()
		}
	case http.StatusPartialContent:
		start, _, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			return 0, false, fmt.Errorf("hub: %s/%s: asked for bytes from %d, got Content-Range %q", repo, file, off, resp.Header.Get("Content-Range"))
		}
	default:
		return 0, false, c.statusError(resp, target{repo: repo, revision: m.commit, file: file})
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, restart, err
	}
	// A stalled connection is cancelled and, like a cut one, resumed.
	stall := c.StallTimeout
	if stall <= 0 {
		stall = time.Minute
	}
	errStalled := fmt.Errorf("no data for %v", stall)
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	body := io.LimitReader(resp.Body, m.size-off)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := body.Read(buf)
		timer.Reset(stall)
		if k > 0 {
			if _, err := f.Write(buf[:k]); err != nil {
				return n, restart, err
			}
			h.Write(buf[:k])
			n += int64(k)
			prog.add(int64(k))
			prog.report(file)
		}
		if rerr == io.EOF {
			if off+n < m.size {
				return n, restart, io.ErrUnexpectedEOF
			}
			return n, restart, nil
		}
		if rerr != nil {
			if cause := context.Cause(ctx); errors.Is(cause, errStalled) {
				rerr = cause
			}
			return n, restart, rerr
		}
	}
}

// progressState aggregates the progress of one Resolve call.
type progressState struct {
	mu          sync.Mutex
	fn          func(Progress)
	repo        string
	done, total int64
}

func (p *progressState) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

// skip accounts for a file that needed no download.
func (p *progressState) skip(size int64) {
	if p == nil || size <= 0 {
		return
	}
	p.mu.Lock()
	p.total -= size
	p.total = max(p.total, p.done)
	p.mu.Unlock()
}

func (p *progressState) report(file string) {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(Progress{Repo: p.repo, File: file, Done: p.done, Total: max(p.total, p.done)})
}
