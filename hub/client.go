package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gomerge/gomerge/internal/regfile"
)

// DefaultEndpoint is the hub's address when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// Client fetches repositories from a Hugging Face hub into a cache. Set its
// fields before first use and do not change them afterwards; its methods are
// safe for concurrent use. The zero Client talks to DefaultEndpoint without a
// token and caches in DefaultCacheDir(); [NewClient] reads the environment as
// huggingface_hub does.
type Client struct {
	// Endpoint is the hub's base URL (HF_ENDPOINT).
	Endpoint string
	// Token is sent as "Authorization: Bearer" to the hub, never to the
	// CDN it redirects downloads to. Empty sends none.
	Token string
	// CacheDir is the hub cache ($HF_HUB_CACHE, or mergekit's
	// --transformers-cache).
	CacheDir string
	// Offline uses the cache only (HF_HUB_OFFLINE).
	Offline bool
	// ReachTimeout, when positive, is for tools that can go on without
	// the hub (gomerge plan): the request that asks the hub which commit a
	// revision is, the first one each Resolve or Inspect makes, is sent
	// once, without retries, and waits at most ReachTimeout for the answer.
	// A hub that cannot be reached or does not answer in time fails it
	// with ErrUnreachable, unless the cache holds the revision, which is
	// then used. Zero waits as HTTPClient does and retries as Retries says.
	ReachTimeout time.Duration
	// HTTPClient makes the requests; nil means a client that waits at most
	// a minute for response headers. Its CheckRedirect is replaced so that
	// the token never leaves the hub.
	HTTPClient *http.Client
	// Logger receives retries, fallbacks to the cache and downloads.
	// Nil means slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called as downloads advance; calls are not
	// concurrent. A command-line tool draws its progress bar from it.
	Progress func(Progress)
	// Retries is how many times a request is retried after a 5xx, 429 or
	// a cut connection; a download that makes progress gets them afresh.
	// Zero means 5; negative means none.
	Retries int
	// RetryWait is the first wait before a retry, doubled each time up to
	// 30 s. Zero means 1 s.
	RetryWait time.Duration
	// StallTimeout aborts (and retries) a download that receives nothing
	// for this long. Zero means 60 s.
	StallTimeout time.Duration
	// Concurrency is how many files download at once; zero means 8, as in
	// huggingface_hub's snapshot_download.
	Concurrency int
	// MetadataTimeout bounds the request that asks which commit a branch
	// or tag is when the cache already holds a snapshot of it: if the hub
	// does not answer in time (or cannot be reached at all) the cached
	// snapshot is used at once, without retries. Zero means 10 s
	// (huggingface_hub's HF_HUB_ETAG_TIMEOUT).
	MetadataTimeout time.Duration
	// RefMaxAge, when positive, trusts a cached branch or tag that was
	// recorded (refs/REVISION written or confirmed) less than RefMaxAge
	// ago: its snapshot is used without asking the hub. Zero asks the hub
	// every time, as huggingface_hub does, so that a moved branch is
	// followed. A commit hash is always served from the cache when it is
	// there.
	RefMaxAge time.Duration
	// UserAgent is sent with every request; empty means "gomerge".
	UserAgent string

	// offlineVar is the environment variable that made NewClient set
	// Offline, "" if none did: error messages say why the client is
	// offline only when they know.
	offlineVar string
}

// Progress is the state of the downloads of one Resolve call.
type Progress struct {
	Repo string
	// File is the file that has just advanced.
	File string
	// Done and Total count bytes over all files this call downloads; Total
	// is 0 until the sizes are known.
	Done, Total int64
}

// NewClient returns a Client configured from the environment as
// huggingface_hub configures itself: HF_ENDPOINT, HF_HOME (default
// $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface), HF_HUB_CACHE (or the
// legacy HUGGINGFACE_HUB_CACHE; default $HF_HOME/hub), HF_HUB_OFFLINE (or
// TRANSFORMERS_OFFLINE), HF_HUB_DOWNLOAD_TIMEOUT (seconds without data
// before a download is resumed), HF_HUB_ETAG_TIMEOUT (seconds to wait for
// the hub before a cached snapshot is used), and the token from HF_TOKEN, HUGGING_FACE_HUB_TOKEN
// or the file $HF_TOKEN_PATH (default $HF_HOME/token) unless
// HF_HUB_DISABLE_IMPLICIT_TOKEN is set.
func NewClient() *Client {
	return newClientEnv(os.Getenv, readTokenFile)
}

func readTokenFile(path string) string {
	b, err := regfile.ReadFile(path, regfile.ConfigLimit)
	if err != nil {
		return ""
	}
	return string(b)
}

func newClientEnv(getenv func(string) string, readFile func(string) string) *Client {
	home := hfHome(getenv)
	c := &Client{
		Endpoint: strings.TrimRight(getenv("HF_ENDPOINT"), "/"),
		CacheDir: hubCache(getenv, home),
	}
	for _, v := range []string{"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"} {
		if isTrue(getenv(v)) {
			c.Offline, c.offlineVar = true, v
			break
		}
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if t, err := strconv.ParseFloat(getenv("HF_HUB_DOWNLOAD_TIMEOUT"), 64); err == nil && t > 0 {
		c.StallTimeout = time.Duration(t * float64(time.Second))
	}
	if t, err := strconv.ParseFloat(getenv("HF_HUB_ETAG_TIMEOUT"), 64); err == nil && t > 0 {
		c.MetadataTimeout = time.Duration(t * float64(time.Second))
	}
	if !isTrue(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
		c.Token = cleanToken(getenv("HF_TOKEN"))
		if c.Token == "" {
			c.Token = cleanToken(getenv("HUGGING_FACE_HUB_TOKEN"))
		}
		if c.Token == "" {
			path := expandPath(getenv, getenv("HF_TOKEN_PATH"))
			if path == "" {
				path = filepath.Join(home, "token")
			}
			c.Token = cleanToken(readFile(path))
		}
	}
	return c
}

// DefaultCacheDir returns the hub cache directory that huggingface_hub
// would use with the current environment.
func DefaultCacheDir() string {
	return hubCache(os.Getenv, hfHome(os.Getenv))
}

func hfHome(getenv func(string) string) string {
	if h := getenv("HF_HOME"); h != "" {
		return expandPath(getenv, h)
	}
	cache := getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(userHome(getenv), ".cache")
	}
	return filepath.Join(expandPath(getenv, cache), "huggingface")
}

func hubCache(getenv func(string) string, home string) string {
	for _, v := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := getenv(v); d != "" {
			return expandPath(getenv, d)
		}
	}
	return filepath.Join(home, "hub")
}

func userHome(getenv func(string) string) string {
	if h := getenv("HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

// expandPath does what Python's os.path.expandvars(os.path.expanduser(p)) does.
func expandPath(getenv func(string) string, p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = userHome(getenv) + p[1:]
	}
	return os.Expand(p, func(v string) string {
		if s := getenv(v); s != "" {
			return s
		}
		return "$" + v // expandvars leaves unknown variables alone
	})
}

// isTrue is huggingface_hub's _is_true.
func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func cleanToken(t string) string {
	return strings.TrimSpace(strings.ReplaceAll(t, "\r", ""))
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) cacheDir() string {
	if c.CacheDir == "" {
		return DefaultCacheDir()
	}
	return c.CacheDir
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c *Client) concurrency() int {
	if c.Concurrency <= 0 {
		return 8
	}
	return c.Concurrency
}

func (c *Client) metadataTimeout() time.Duration {
	if c.MetadataTimeout > 0 {
		return c.MetadataTimeout
	}
	return 10 * time.Second
}

// offlineHint says why the client is offline and how to go online, for
// the messages of ErrNotCached.
func (c *Client) offlineHint(repo string) string {
	get := "run `hf download " + repo + "` where there is a network"
	if c.offlineVar != "" {
		return fmt.Sprintf("offline because %s is set in the environment: unset it to download, or %s", c.offlineVar, get)
	}
	return "offline: only the cache was searched; " + get
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return 5
	}
	return c.Retries
}

// httpClient returns a copy of HTTPClient whose redirects drop the token
// when they leave the host they started on: the hub sends LFS downloads to
// a CDN with signed URLs, which must not see the token (and S3 refuses
// requests that carry two kinds of authentication).
func (c *Client) httpClient() *http.Client {
	base := c.HTTPClient
	if base == nil {
		base = defaultHTTPClient
	}
	hc := *base
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		return nil
	}
	return &hc
}

var defaultHTTPClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	return &http.Client{Transport: tr}
}()

// noRedirect returns a client that does not follow redirects, for the HEAD
// requests whose redirect headers carry a file's LFS metadata.
func (c *Client) noRedirect() *http.Client {
	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

var (
	repoIDPattern = regexp.MustCompile(`^(?:[\w\-.]+/)?[\w\-.]+$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// IsRepoID reports whether s is a valid hub repository id, "NAME" or
// "ORG/NAME", by huggingface_hub's rules (validate_repo_id).
func IsRepoID(s string) bool {
	return len(s) <= 96 && repoIDPattern.MatchString(s) &&
		!strings.Contains(s, "--") && !strings.Contains(s, "..") && !strings.HasSuffix(s, ".git") &&
		!strings.HasPrefix(s, ".") && !strings.HasPrefix(s, "-") && !strings.HasSuffix(s, ".") &&
		!strings.HasSuffix(s, "-") && !strings.Contains(s, "/.") && !strings.Contains(s, "/-") &&
		!strings.Contains(s, "./") && !strings.Contains(s, "-/")
}

// IsCommit reports whether rev is a full commit hash, which, unlike a
// branch or tag, always names the same files.
func IsCommit(rev string) bool { return commitPattern.MatchString(rev) }
