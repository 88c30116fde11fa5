package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target names what a request is about, for error messages.
type target struct{ repo, revision, file string }

// newRequest builds a request to the hub or the CDN; the token goes only to
// the hub's own host.
func (c *Client) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "gomerge"
	}
	req.Header.Set("User-Agent", ua+"; hf_hub/go")
	// Sizes and Range offsets refer to the file itself, never to a
	// compressed body.
	req.Header.Set("Accept-Encoding", "identity")
	if c.Token != "" && c.sameHost(req.URL) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

func (c *Client) sameHost(u *url.URL) bool {
	e, err := url.Parse(c.endpoint())
	return err == nil && strings.EqualFold(e.Host, u.Host)
}

// retryable reports whether a failed request is worth repeating: network
// errors and the statuses huggingface_hub retries. A host whose name does
// not resolve or a network with no route to it is not retried: on a
// machine without a network, waiting through the back-off (about 30 s)
// only delays the fall-back to the cache, which huggingface_hub makes at
// once on such errors.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !noRoute(err)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// noRoute reports whether err says the hub cannot be reached at all from
// here: its name is unknown to the resolver, or the network or host is
// unreachable.
func noRoute(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH)
}

// backoff waits before retry number try (0-based), or less if the server
// said Retry-After, and fails if ctx ends first.
func (c *Client) backoff(ctx context.Context, try int, resp *http.Response) error {
	wait := c.RetryWait
	if wait <= 0 {
		wait = time.Second
	}
	wait <<= min(try, 5)
	wait = min(wait, 30*time.Second)
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(time.Duration(s)*time.Second, time.Minute)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do sends a request built by mk, retrying on network errors, 5xx and 429.
// Any response with a status below 500 (other than 408 and 429) is
// returned to the caller, who must close its body.
func (c *Client) do(ctx context.Context, hc *http.Client, mk func() (*http.Request, error), what string) (*http.Response, error) {
	return c.doRetries(ctx, hc, mk, what, c.retries())
}

// doRetries is do with a number of retries.
func (c *Client) doRetries(ctx context.Context, hc *http.Client, mk func() (*http.Request, error), what string, retries int) (*http.Response, error) {
	for try := 0; ; try++ {
		req, err := mk()
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if !retryable(resp, err) {
			return resp, err
		}
		if try >= retries {
			if err != nil && try > 0 {
				return nil, fmt.Errorf("hub: %s: %w (after %d tries)", what, err, try+1)
			}
			if err != nil {
				return nil, fmt.Errorf("hub: %s: %w", what, err)
			}
			return resp, nil
		}
		if err != nil {
			c.logger().Warn("hub: request failed, retrying", "request", what, "err", err, "try", try+1)
		} else {
			c.logger().Warn("hub: request failed, retrying", "request", what, "status", resp.Status, "try", try+1)
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
		}
		if err := c.backoff(ctx, try, resp); err != nil {
			return nil, err
		}
	}
}

// statusError turns an unsuccessful response into an error; the caller
// still closes the body.
func (c *Client) statusError(resp *http.Response, t target) error {
	e := &HTTPError{
		Repo: t.repo, Revision: t.revision, File: t.file,
		URL:        resp.Request.URL.Redacted(),
		StatusCode: resp.StatusCode,
		Code:       resp.Header.Get("X-Error-Code"),
		Message:    resp.Header.Get("X-Error-Message"),
		HadToken:   resp.Request.Header.Get("Authorization") != "",
		Endpoint:   c.endpoint(),
	}
	if e.Message == "" && resp.Request.Method != http.MethodHead {
		// The hub's JSON errors look like {"error": "..."}.
		var body struct {
			Error string `json:"error"`
		}
		if b, err := io.ReadAll(io.LimitReader(resp.Body, 4096)); err == nil && json.Unmarshal(b, &body) == nil {
			e.Message = body.Error
		}
	}
	return e
}

// resolveURL returns ENDPOINT/REPO/resolve/REV/FILE with hf_hub_url's
// quoting: quote(revision, safe="") and quote(filename).
func (c *Client) resolveURL(repo, rev, file string) string {
	return c.endpoint() + "/" + repo + "/resolve/" + quote(rev, "") + "/" + quote(file, "/")
}

// quote is Python's urllib.parse.quote: it percent-encodes every byte but
// letters, digits, "_.-~" and those in safe.
func quote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
			strings.IndexByte("_.-~", ch) >= 0 || strings.IndexByte(safe, ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", ch)
	}
	return b.String()
}

// repoInfo is the part of /api/models/REPO/revision/REV that Resolve uses.
type repoInfo struct {
	ID       string    `json:"id"`
	SHA      string    `json:"sha"`
	Siblings []sibling `json:"siblings"`
}

type sibling struct {
	Name   string `json:"rfilename"`
	Size   *int64 `json:"size"`
	BlobID string `json:"blobId"`
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// repoFile is a file of a repository as the API lists it.
type repoFile struct {
	Name   string
	Size   int64  // -1 if unknown
	BlobID string // git blob sha1, "" if unknown
	SHA256 string // LFS files only
}

// fetchRepoInfo asks the API which commit rev is and which files it holds,
// retrying as many times as retries says.
func (c *Client) fetchRepoInfo(ctx context.Context, repo, rev string, retries int) (commit string, files map[string]repoFile, err error) {
	u := c.endpoint() + "/api/models/" + repo + "/revision/" + quote(rev, "") + "?blobs=true"
	t := target{repo: repo, revision: rev}
	resp, err := c.doRetries(ctx, c.httpClient(), func() (*http.Request, error) { return c.newRequest(ctx, http.MethodGet, u) }, repo+" model info", retries)
	if err != nil {
		return "", nil, &noAnswerError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, c.statusError(resp, t)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", nil, &noAnswerError{fmt.Errorf("hub: %s: read model info: %w", repo, err)}
	}
	return parseRepoInfo(repo, body)
}

// noAnswerError is a request that got no (complete) answer: the hub could
// not be reached, or timed out.
type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string { return e.err.Error() }
func (e *noAnswerError) Unwrap() error { return e.err }

func parseRepoInfo(repo string, body []byte) (string, map[string]repoFile, error) {
	var info repoInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return "", nil, fmt.Errorf("hub: %s: model info: %w", repo, err)
	}
	if !IsCommit(info.SHA) {
		return "", nil, fmt.Errorf("hub: %s: model info has no commit hash (sha %q); is HF_ENDPOINT a Hugging Face hub?", repo, info.SHA)
	}
	files := make(map[string]repoFile, len(info.Siblings))
	for _, s := range info.Siblings {
		if err := checkFileName(s.Name); err != nil {
			return "", nil, err
		}
		f := repoFile{Name: s.Name, Size: -1, BlobID: s.BlobID}
		if s.Size != nil {
			f.Size = *s.Size
		}
		if s.LFS != nil {
			f.SHA256, f.Size = strings.ToLower(s.LFS.SHA256), s.LFS.Size
		}
		files[s.Name] = f
	}
	return info.SHA, files, nil
}

// fileMeta is what a HEAD on a resolve URL tells: huggingface_hub's
// HfFileMetadata.
type fileMeta struct {
	commit   string
	etag     string // normalised: sha256 for LFS files, git sha1 otherwise
	size     int64
	location string // where to GET the bytes
}

// head asks the hub for a file's metadata without following the redirect
// to the CDN, whose headers X-Linked-Etag and X-Linked-Size describe the
// LFS file. Relative redirects (renamed repositories) are followed.
func (c *Client) head(ctx context.Context, repo, rev, file string) (fileMeta, error) {
	u := c.resolveURL(repo, rev, file)
	t := target{repo: repo, revision: rev, file: file}
	hc := c.noRedirect()
	for hops := 0; ; hops++ {
		resp, err := c.do(ctx, hc, func() (*http.Request, error) { return c.newRequest(ctx, http.MethodHead, u) }, repo+"/"+file)
		if err != nil {
			return fileMeta{}, err
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		redirect := resp.StatusCode >= 300 && resp.StatusCode < 400
		if redirect && loc != "" && hops < 5 {
			if l, err := url.Parse(loc); err == nil && l.Host == "" {
				u = resp.Request.URL.ResolveReference(l).String()
				continue
			}
		}
		if !redirect && resp.StatusCode != http.StatusOK {
			return fileMeta{}, c.statusError(resp, t)
		}
		m := fileMeta{
			commit:   resp.Header.Get("X-Repo-Commit"),
			etag:     normalizeEtag(firstNonEmpty(resp.Header.Get("X-Linked-Etag"), resp.Header.Get("ETag"))),
			size:     -1,
			location: u,
		}
		if redirect && loc != "" {
			l, err := resp.Request.URL.Parse(loc)
			if err != nil {
				return fileMeta{}, fmt.Errorf("hub: %s/%s: bad redirect %q: %w", repo, file, loc, err)
			}
			m.location = l.String()
		}
		size := resp.Header.Get("X-Linked-Size")
		if size == "" && !redirect {
			size = resp.Header.Get("Content-Length")
		}
		if n, err := strconv.ParseInt(size, 10, 64); err == nil && n >= 0 {
			m.size = n
		}
		switch {
		case m.commit == "":
			return fileMeta{}, fmt.Errorf("hub: %s/%s: the response has no X-Repo-Commit header; is HF_ENDPOINT (%s) a Hugging Face hub, or is a proxy in the way?", repo, file, c.endpoint())
		case m.etag == "":
			return fileMeta{}, fmt.Errorf("hub: %s/%s: the response has no ETag, so the file cannot be verified", repo, file)
		case m.size < 0:
			return fileMeta{}, fmt.Errorf("hub: %s/%s: the response has no file size", repo, file)
		}
		if err := checkEtag(m.etag); err != nil {
			return fileMeta{}, fmt.Errorf("%w (%s/%s)", err, repo, file)
		}
		return m, nil
	}
}

// normalizeEtag strips the weak marker and quotes: W/"abc" -> abc.
func normalizeEtag(e string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(e), "W/"), `"`)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// contentRange parses "bytes START-END/SIZE" (SIZE may be "*").
func parseContentRange(s string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	size = -1
	if total != "*" {
		size, err3 = strconv.ParseInt(total, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || start < 0 || end < start || size != -1 && end >= size {
		return 0, 0, 0, false
	}
	return start, end, size, true
}
