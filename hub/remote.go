package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// readAhead is the least a RemoteFile fetches per request: enough for the
// 8-byte length and the JSON header of most safetensors shards in one go.
const readAhead = 64 << 10

// RemoteFile is a file of a hub repository read with HTTP range requests,
// an io.ReaderAt for safetensors.NewReader that fetches only the bytes
// read. Small reads fetch at least 64 KiB and are served from that buffer
// until a read falls outside it. It is safe for concurrent use.
type RemoteFile struct {
	c          *Client
	ctx        context.Context
	repo, name string
	meta       fileMeta
	fetched    atomic.Int64
	location   atomic.Pointer[string] // signed CDN URLs expire: refreshed on 401/403

	mu     sync.Mutex
	buf    []byte
	bufOff int64
}

// OpenRemote returns the file of repository repo at revision ("" means
// "main") as a RemoteFile. It makes one HEAD request; ctx governs it and
// every later read.
func (c *Client) OpenRemote(ctx context.Context, repo, revision, file string) (*RemoteFile, error) {
	if !IsRepoID(repo) {
		return nil, fmt.Errorf("hub: %q is not a valid Hugging Face repository id", repo)
	}
	if revision == "" {
		revision = "main"
	}
	if err := checkFileName(file); err != nil {
		return nil, err
	}
	if c.Offline {
		return nil, fmt.Errorf("hub: %s/%s: cannot read a remote file (%s): %w", repo, file, c.offlineHint(repo), ErrNotCached)
	}
	m, err := c.head(ctx, repo, revision, file)
	if err != nil {
		return nil, err
	}
	f := &RemoteFile{c: c, ctx: ctx, repo: repo, name: file, meta: m}
	f.location.Store(&m.location)
	return f, nil
}

// Name returns the file's path in its repository.
func (f *RemoteFile) Name() string { return f.name }

// Size returns the file's length in bytes.
func (f *RemoteFile) Size() int64 { return f.meta.size }

// Commit returns the commit the file was read from.
func (f *RemoteFile) Commit() string { return f.meta.commit }

// BytesFetched returns how many bytes of the file have come over the
// network so far.
func (f *RemoteFile) BytesFetched() int64 { return f.fetched.Load() }

// ReadAt reads len(p) bytes from offset off, as io.ReaderAt says.
func (f *RemoteFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("hub: %s: negative offset %d", f.name, off)
	}
	if off >= f.meta.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), f.meta.size-off)]
	var err error
	if len(want) >= readAhead {
		err = f.fetch(off, want)
	} else {
		err = f.buffered(off, want)
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(want), nil
}

func (f *RemoteFile) buffered(off int64, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < f.bufOff || off+int64(len(p)) > f.bufOff+int64(len(f.buf)) {
		n := min(int64(readAhead), f.meta.size-off)
		buf := make([]byte, n)
		if err := f.fetch(off, buf); err != nil {
			return err
		}
		f.buf, f.bufOff = buf, off
	}
	copy(p, f.buf[off-f.bufOff:])
	return nil
}

// fetch fills p with the bytes at off, retrying cut connections; a CDN
// that refuses the (signed, expiring) URL gets one fresh one from the hub.
func (f *RemoteFile) fetch(off int64, p []byte) error {
	tries, refreshed := 0, false
	for len(p) > 0 {
		n, err := f.get(off, p)
		off, p = off+int64(n), p[n:]
		if err == nil {
			continue
		}
		var he *HTTPError
		if errors.As(err, &he) {
			if !refreshed && expired(he) && *f.location.Load() != f.c.resolveURL(f.repo, f.meta.commit, f.name) {
				m, herr := f.c.head(f.ctx, f.repo, f.meta.commit, f.name)
				if herr != nil {
					return herr
				}
				f.location.Store(&m.location)
				refreshed = true
				continue
			}
			return err
		}
		if f.ctx.Err() != nil {
			return err
		}
		if n > 0 {
			tries = 0
		}
		if tries >= f.c.retries() {
			return fmt.Errorf("hub: %s/%s: read bytes %d-%d: %w", f.repo, f.name, off, off+int64(len(p))-1, err)
		}
		if err := f.c.backoff(f.ctx, tries, nil); err != nil {
			return err
		}
		tries++
	}
	return nil
}

// get reads as much of p as one range request gives.
func (f *RemoteFile) get(off int64, p []byte) (int, error) {
	loc := *f.location.Load()
	resp, err := f.c.do(f.ctx, f.c.httpClient(), func() (*http.Request, error) {
		req, err := f.c.newRequest(f.ctx, http.MethodGet, loc)
		if err == nil {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+int64(len(p))-1, 10))
		}
		return req, err
	}, f.repo+"/"+f.name)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, _, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			return 0, fmt.Errorf("hub: %s/%s: asked for bytes from %d, got Content-Range %q", f.repo, f.name, off, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		// The server ignored Range: skip to off in the whole file.
		k, err := io.CopyN(io.Discard, body, off)
		f.fetched.Add(k)
		if err != nil {
			return 0, err
		}
	default:
		return 0, f.c.statusError(resp, target{repo: f.repo, revision: f.meta.commit, file: f.name})
	}
	n, err := io.ReadFull(body, p)
	f.fetched.Add(int64(n))
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
