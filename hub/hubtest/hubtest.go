// Package hubtest runs a fake Hugging Face hub for tests: the model API
// (/api/models/REPO, /api/models/REPO/revision/REV and
// /api/models/REPO/tree/REV), file downloads
// (/REPO/resolve/REV/FILE) with the hub's headers, a separate CDN
// server that LFS downloads are redirected to, as on the real hub, and
// the upload API for tokens given to AddWriter. Knobs
// cut connections, corrupt bytes, fail requests and gate repositories, and
// counters say what was fetched.
package hubtest

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a fake hub. Its methods are safe for concurrent use.
type Server struct {
	// URL is the hub's endpoint, for hub.Client.Endpoint.
	URL string
	// CDNURL is where LFS downloads are redirected.
	CDNURL string

	hub, cdn *httptest.Server

	mu       sync.Mutex
	repos    map[string]*repo
	blobs    map[string][]byte // sha256 -> LFS content
	faults   map[string]*fault // by file name; "" for every request
	tokens   map[string]bool   // valid tokens of users without access
	writers  map[string]bool   // tokens that may create and commit
	served   map[string]int64  // body bytes by file name
	requests []Request
}

// Request is a request the fake hub or CDN answered.
type Request struct {
	Method string
	Path   string // URL path, unescaped
	File   string // file name it concerned, "" for API requests
	Range  string // the Range header
	Auth   bool   // whether it carried an Authorization header
	CDN    bool   // whether the CDN answered it
}

type repo struct {
	commits  map[string]map[string][]byte // commit -> files
	refs     map[string]string            // branch or tag -> commit
	order    []string                     // commits, oldest first
	gated    string                       // token that may read it, "" if public
	lastTime int
}

type fault struct {
	failN      int // answer the next failN requests with failStatus
	failStatus int
	cdnFailN   int // answer the next cdnFailN CDN requests with cdnStatus
	cdnStatus  int
	cutN       int   // cut the next cutN bodies ...
	cutAt      int64 // ... after this many bytes
	corrupt    bool  // flip a byte of every body
	stallN     int   // stall the next stallN bodies ...
	stallAt    int64 // ... after this many bytes, until the client gives up
	noRange    bool  // ignore Range headers, as some proxies do
}

// NewServer starts a fake hub and its CDN, stopped when the test ends.
func NewServer(t testing.TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake hub and its CDN; the caller must Close it.
func Start() *Server {
	s := &Server{
		repos:  map[string]*repo{},
		blobs:  map[string][]byte{},
		faults: map[string]*fault{},
		tokens: map[string]bool{},
		served: map[string]int64{},
	}
	s.hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL, s.CDNURL = s.hub.URL, s.cdn.URL
	return s
}

// Close stops the servers; clients then see connection errors.
func (s *Server) Close() {
	s.hub.Close()
	s.cdn.Close()
}

// IsLFS reports whether the fake hub stores a file in LFS, by the
// extensions of the hub's default .gitattributes.
func IsLFS(name string) bool {
	switch path.Ext(name) {
	case ".safetensors", ".bin", ".model", ".pt", ".pth", ".h5", ".msgpack", ".onnx", ".ot", ".gguf", ".zip", ".npy", ".pkl":
		return true
	}
	return false
}

// AddRepo creates repository id with one commit of files on branch main and
// returns the commit hash.
func (s *Server) AddRepo(id string, files map[string][]byte) string {
	s.mu.Lock()
	s.repos[id] = &repo{commits: map[string]map[string][]byte{}, refs: map[string]string{}}
	s.mu.Unlock()
	return s.Commit(id, "main", files)
}

// Commit adds a commit holding exactly files to branch of repository id
// and returns its hash.
func (s *Server) Commit(id, branch string, files map[string][]byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	var b [20]byte
	rand.Read(b[:])
	commit := hex.EncodeToString(b[:])
	fs := make(map[string][]byte, len(files))
	for n, d := range files {
		fs[n] = slices.Clone(d)
		if IsLFS(n) {
			s.blobs[sha256Hex(d)] = fs[n]
		}
	}
	r.commits[commit] = fs
	r.order = append(r.order, commit)
	r.refs[branch] = commit
	return commit
}

// Tag points tag (or a branch) at commit.
func (s *Server) Tag(id, tag, commit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[id].refs[tag] = commit
}

// Gate makes repository id answer only requests that carry token.
func (s *Server) Gate(id, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[id].gated = token
}

// AddUser makes token a valid token of a user who has not been granted
// access to gated repositories: the hub answers it 403 GatedRepo rather
// than 401.
func (s *Server) AddUser(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// Fail answers the next n requests concerning file (any request if file
// is "") with status.
func (s *Server) Fail(file string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).failN, s.fault(file).failStatus = n, status
}

// FailCDN answers the next n CDN requests for file with status, as the
// CDN answers 403 once a signed URL has expired.
func (s *Server) FailCDN(file string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).cdnFailN, s.fault(file).cdnStatus = n, status
}

// Cut makes the next n downloads of file break the connection after at
// bytes of the body.
func (s *Server) Cut(file string, at int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).cutN, s.fault(file).cutAt = n, at
}

// Stall makes the next n downloads of file send at bytes of the body and
// then nothing, until the client closes the connection.
func (s *Server) Stall(file string, at int64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).stallN, s.fault(file).stallAt = n, at
}

// IgnoreRange makes downloads of file answer every request with the whole
// file and status 200, as a proxy that does not support ranges does.
func (s *Server) IgnoreRange(file string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).noRange = on
}

// Corrupt makes every download of file deliver one wrong byte; its headers
// still carry the true checksum.
func (s *Server) Corrupt(file string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(file).corrupt = on
}

func (s *Server) fault(file string) *fault {
	f := s.faults[file]
	if f == nil {
		f = &fault{}
		s.faults[file] = f
	}
	return f
}

// BytesServed returns how many body bytes of file the hub and CDN sent.
func (s *Server) BytesServed(file string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[file]
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetCounters forgets BytesServed and Requests.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served = map[string]int64{}
	s.requests = nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GitBlobID returns git's blob hash of b, the hub's ETag of a non-LFS file.
func GitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// SHA256 returns the hex sha256 of b, the hub's ETag of an LFS file.
func SHA256(b []byte) string { return sha256Hex(b) }

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// record notes a request and applies Fail; it reports whether the request
// was answered already.
func (s *Server) record(w http.ResponseWriter, r *http.Request, file string, cdn bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, File: file, Range: r.Header.Get("Range"),
		Auth: r.Header.Get("Authorization") != "", CDN: cdn})
	if f := s.faults[file]; cdn && f != nil && f.cdnFailN > 0 {
		f.cdnFailN--
		w.WriteHeader(f.cdnStatus)
		fmt.Fprintf(w, "injected CDN failure %d\n", f.cdnStatus)
		return true
	}
	for _, k := range []string{"", file} {
		if f := s.faults[k]; f != nil && f.failN > 0 && (k == "" || file != "") {
			f.failN--
			w.WriteHeader(f.failStatus)
			fmt.Fprintf(w, "injected failure %d\n", f.failStatus)
			return true
		}
	}
	return false
}

// lookup finds a repository and checks the token, answering with the hub's
// errors: 401 RepoNotFound for an unknown repository without a token (the
// hub does not tell private from missing), 404 with one, 401 GatedRepo
// for a gated one without a token, 403 GatedRepo for a user (AddUser)
// without access, 401 for an unknown token.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, id string) *repo {
	s.mu.Lock()
	rp := s.repos[id]
	auth := r.Header.Get("Authorization")
	known := s.tokens[strings.TrimPrefix(auth, "Bearer ")]
	s.mu.Unlock()
	switch {
	case rp == nil && auth == "":
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository not found")
	case rp == nil:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
	case rp.gated != "" && auth == "":
		hubError(w, http.StatusUnauthorized, "GatedRepo", fmt.Sprintf("Access to model %s is restricted. You must have access to it and be authenticated to access it. Please log in.", id))
	case rp.gated != "" && auth != "Bearer "+rp.gated && known:
		hubError(w, http.StatusForbidden, "GatedRepo", fmt.Sprintf("Access to model %s is restricted and you are not in the authorized list. Visit %s/%s to ask for access.", id, s.URL, id))
	case rp.gated != "" && auth != "Bearer "+rp.gated:
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
	default:
		return rp
	}
	return nil
}

// commitOf resolves a branch, tag or commit hash.
func (s *Server) commitOf(rp *repo, rev string) (string, map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := rp.refs[rev]; ok {
		return c, rp.commits[c]
	}
	if fs, ok := rp.commits[rev]; ok {
		return rev, fs
	}
	return "", nil
}

// splitRepo splits "ORG/NAME/REST" or "NAME/REST" at the point where a
// known repository id ends, preferring the two-part id.
func (s *Server) splitRepo(p string) (id, rest string, ok bool) {
	parts := strings.SplitN(p, "/", 3)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(parts) >= 2 {
		if _, found := s.repos[parts[0]+"/"+parts[1]]; found {
			return parts[0] + "/" + parts[1], strings.Join(parts[2:], "/"), true
		}
	}
	if _, found := s.repos[parts[0]]; found {
		return parts[0], strings.Join(parts[1:], "/"), true
	}
	if len(parts) >= 2 {
		return parts[0] + "/" + parts[1], strings.Join(parts[2:], "/"), false
	}
	return p, "", false
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	if s.serveUpload(w, r) {
		return
	}
	escaped := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(escaped, "/api/models/"); ok {
		s.serveAPI(w, r, rest)
		return
	}
	// /REPO/resolve/REV/FILE, with REV escaped by the client.
	i := strings.Index(escaped, "/resolve/")
	if i < 0 {
		hubError(w, http.StatusNotFound, "", "Not found")
		return
	}
	id, _ := url.PathUnescape(strings.TrimPrefix(escaped[:i], "/"))
	revEsc, fileEsc, _ := strings.Cut(escaped[i+len("/resolve/"):], "/")
	rev, err1 := url.PathUnescape(revEsc)
	file, err2 := url.PathUnescape(fileEsc)
	if err1 != nil || err2 != nil {
		hubError(w, http.StatusBadRequest, "", "bad path")
		return
	}
	if s.record(w, r, file, false) {
		return
	}
	rp := s.lookup(w, r, id)
	if rp == nil {
		return
	}
	commit, files := s.commitOf(rp, rev)
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	data, ok := files[file]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	if IsLFS(file) {
		sum := sha256Hex(data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(data)))
		w.Header().Set("ETag", `W/"`+GitBlobID([]byte(sum))[:20]+`"`) // the redirect's own ETag
		w.Header().Set("Location", s.CDNURL+"/repos/"+sum[:2]+"/"+sum+"?filename="+url.QueryEscape(file)+"&sig=x")
		w.WriteHeader(http.StatusFound)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, "Found. Redirecting to the CDN")
		}
		return
	}
	w.Header().Set("ETag", `"`+GitBlobID(data)+`"`)
	s.serveBytes(w, r, file, data)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/upload/") {
		if !s.record(w, r, "", true) {
			s.putBlob(w, r)
		}
		return
	}
	file := r.URL.Query().Get("filename")
	if s.record(w, r, file, true) {
		return
	}
	if r.Header.Get("Authorization") != "" {
		// S3 refuses a signed URL plus an Authorization header.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, "Only one auth mechanism allowed")
		return
	}
	sum := path.Base(r.URL.Path)
	s.mu.Lock()
	data, ok := s.blobs[sum]
	s.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	s.serveBytes(w, r, file, data)
}

// treeEntry is an entry of /api/models/REPO/tree/REV.
type treeEntry struct {
	Type string `json:"type"`
	OID  string `json:"oid"`
	Size int    `json:"size"`
	Path string `json:"path"`
	LFS  *struct {
		OID         string `json:"oid"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

// serveTree answers /api/models/REPO/tree/REV[/PATH] as huggingface_hub's
// list_repo_tree reads it (one page, always recursive).
func (s *Server) serveTree(w http.ResponseWriter, r *http.Request, idEsc, revPath string) {
	id, _ := url.PathUnescape(idEsc)
	revEsc, dirEsc, _ := strings.Cut(revPath, "/")
	rev, err1 := url.PathUnescape(revEsc)
	dir, err2 := url.PathUnescape(dirEsc)
	if err1 != nil || err2 != nil {
		hubError(w, http.StatusBadRequest, "", "bad path")
		return
	}
	rp := s.lookup(w, r, id)
	if rp == nil {
		return
	}
	_, files := s.commitOf(rp, rev)
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	dirs := map[string]bool{}
	var out []treeEntry
	for name, d := range files {
		if dir != "" && !strings.HasPrefix(name, dir+"/") {
			continue
		}
		for p := path.Dir(name); p != "." && p != dir; p = path.Dir(p) {
			dirs[p] = true
		}
		e := treeEntry{Type: "file", OID: GitBlobID(d), Size: len(d), Path: name}
		if IsLFS(name) {
			e.OID = GitBlobID(fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(d), len(d)))
			e.LFS = &struct {
				OID         string `json:"oid"`
				Size        int    `json:"size"`
				PointerSize int    `json:"pointerSize"`
			}{sha256Hex(d), len(d), 134}
		}
		out = append(out, e)
	}
	for d := range dirs {
		out = append(out, treeEntry{Type: "directory", OID: GitBlobID([]byte(d)), Path: d})
	}
	slices.SortFunc(out, func(a, b treeEntry) int { return strings.Compare(a.Path, b.Path) })
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serveBytes answers a GET or HEAD with data, honouring a single Range and
// the faults set for file.
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, file string, data []byte) {
	size := int64(len(data))
	start, end := int64(0), size-1
	status := http.StatusOK
	s.mu.Lock()
	noRange := s.faults[file] != nil && s.faults[file].noRange
	s.mu.Unlock()
	if rng := r.Header.Get("Range"); rng != "" && !noRange {
		a, b, ok := parseRange(rng, size)
		if !ok {
			w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, end, status = a, b, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, size))
	}
	body := slices.Clone(data[start : end+1])
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(body)), 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	s.mu.Lock()
	f := s.faults[file]
	cut, stall := int64(-1), false
	if f != nil {
		if f.stallN > 0 && f.cutN == 0 {
			f.stallN--
			cut, stall = max(f.stallAt-start, 0), true
		}
		if f.corrupt && len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		if f.cutN > 0 {
			f.cutN--
			cut = max(f.cutAt-start, 0)
		}
	}
	s.mu.Unlock()
	if cut >= 0 && cut < int64(len(body)) {
		s.count(file, int(cut)) // before writing: the client may be done before Write returns
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		if stall {
			<-r.Context().Done()
		}
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	s.count(file, len(body))
	w.Write(body)
}

func (s *Server) count(file string, n int) {
	s.mu.Lock()
	s.served[file] += int64(n)
	s.mu.Unlock()
}

// parseRange parses "bytes=A-" or "bytes=A-B" against size.
func parseRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end = size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

// sibling is an entry of the API's siblings list.
type sibling struct {
	Name   string `json:"rfilename"`
	Size   *int   `json:"size,omitempty"`
	BlobID string `json:"blobId,omitempty"`
	LFS    *struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	if s.record(w, r, "", false) {
		return
	}
	if i := strings.Index(rest, "/tree/"); i >= 0 {
		s.serveTree(w, r, rest[:i], rest[i+len("/tree/"):])
		return
	}
	idEsc, revEsc, hasRev := strings.Cut(rest, "/revision/")
	id, _ := url.PathUnescape(idEsc)
	rev := "main"
	if hasRev {
		var err error
		if rev, err = url.PathUnescape(revEsc); err != nil {
			hubError(w, http.StatusBadRequest, "", "bad revision")
			return
		}
	}
	rp := s.lookup(w, r, id)
	if rp == nil {
		return
	}
	commit, files := s.commitOf(rp, rev)
	if files == nil {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true"
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	sibs := make([]sibling, 0, len(names))
	for _, n := range names {
		sb := sibling{Name: n}
		if blobs {
			d := files[n]
			size := len(d)
			sb.Size = &size
			if !IsLFS(n) {
				sb.BlobID = GitBlobID(d)
			} else {
				sb.BlobID = GitBlobID(fmt.Appendf(nil, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(d), len(d)))
				sb.LFS = &struct {
					SHA256      string `json:"sha256"`
					Size        int    `json:"size"`
					PointerSize int    `json:"pointerSize"`
				}{sha256Hex(d), len(d), 134}
			}
		}
		sibs = append(sibs, sb)
	}
	gated := any(false)
	if rp.gated != "" {
		gated = "manual"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"_id": "fake", "id": id, "modelId": id, "sha": commit, "private": false, "gated": gated,
		"disabled": false, "siblings": sibs, "tags": []string{}, "library_name": "transformers",
	})
}
