package hubtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"path"
	"strings"
)

// AddWriter lets token create repositories and commit to them (the
// upload API: /api/repos/create, /api/models/REPO/preupload/REV,
// /REPO.git/info/lfs/objects/batch with PUTs to the CDN, and
// /api/models/REPO/commit/REV).
func (s *Server) AddWriter(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writers == nil {
		s.writers = map[string]bool{}
	}
	s.writers[token] = true
}

// serveUpload answers the upload API; it reports whether r was one of
// its requests.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	var handle func(http.ResponseWriter, *http.Request, string)
	var id string
	switch {
	case r.Method != http.MethodPost:
		return false
	case p == "/api/repos/create":
		handle = s.createRepo
	case strings.HasPrefix(p, "/api/models/") && strings.Contains(p, "/preupload/"):
		id, _, _ = strings.Cut(strings.TrimPrefix(p, "/api/models/"), "/preupload/")
		handle = s.preupload
	case strings.HasPrefix(p, "/api/models/") && strings.Contains(p, "/commit/"):
		id, _, _ = strings.Cut(strings.TrimPrefix(p, "/api/models/"), "/commit/")
		handle = s.commitUpload
	case strings.HasSuffix(p, ".git/info/lfs/objects/batch"):
		id = strings.TrimSuffix(strings.TrimPrefix(p, "/"), ".git/info/lfs/objects/batch")
		handle = s.lfsBatch
	default:
		return false
	}
	if s.record(w, r, "", false) {
		return true
	}
	s.mu.Lock()
	ok := s.writers[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	_, exists := s.repos[id]
	s.mu.Unlock()
	switch {
	case !ok:
		hubError(w, http.StatusUnauthorized, "", "Invalid credentials in Authorization header")
	case id != "" && !exists:
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
	default:
		handle(w, r, id)
	}
	return true
}

func (s *Server) createRepo(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		Type, Name, Organization string
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" || req.Type != "model" {
		hubError(w, http.StatusBadRequest, "", "bad request")
		return
	}
	id := req.Organization + "/" + req.Name
	s.mu.Lock()
	_, exists := s.repos[id]
	s.mu.Unlock()
	if exists {
		hubError(w, http.StatusConflict, "", "You already created this model repo")
		return
	}
	s.AddRepo(id, map[string][]byte{".gitattributes": []byte("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")})
	json.NewEncoder(w).Encode(map[string]string{"url": s.URL + "/" + id})
}

func (s *Server) preupload(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		Files []struct {
			Path string
			Size int64
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		hubError(w, http.StatusBadRequest, "", "bad request")
		return
	}
	type mode struct {
		Path       string `json:"path"`
		UploadMode string `json:"uploadMode"`
	}
	var ans struct {
		Files []mode `json:"files"`
	}
	for _, f := range req.Files {
		m := "regular"
		if IsLFS(f.Path) || f.Size >= 10<<20 {
			m = "lfs"
		}
		ans.Files = append(ans.Files, mode{f.Path, m})
	}
	json.NewEncoder(w).Encode(ans)
}

func (s *Server) lfsBatch(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		Operation string
		Objects   []struct {
			OID  string
			Size int64
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Operation != "upload" {
		hubError(w, http.StatusBadRequest, "", "bad request")
		return
	}
	type object struct {
		OID     string                    `json:"oid"`
		Size    int64                     `json:"size"`
		Actions map[string]map[string]any `json:"actions,omitempty"`
	}
	var ans struct {
		Objects []object `json:"objects"`
	}
	for _, o := range req.Objects {
		s.mu.Lock()
		_, have := s.blobs[o.OID]
		s.mu.Unlock()
		obj := object{OID: o.OID, Size: o.Size}
		if !have {
			obj.Actions = map[string]map[string]any{"upload": {"href": s.CDNURL + "/upload/" + o.OID,
				"header": map[string]string{"X-Amz-Sig": "x"}}}
		}
		ans.Objects = append(ans.Objects, obj)
	}
	w.Header().Set("Content-Type", "application/vnd.git-lfs+json")
	json.NewEncoder(w).Encode(ans)
}

// putBlob takes an LFS upload on the CDN; the bytes must hash to the
// object id in the path.
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	oid := path.Base(r.URL.Path)
	data, err := io.ReadAll(r.Body)
	if err != nil || sha256Hex(data) != oid || r.Header.Get("X-Amz-Sig") == "" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.blobs[oid] = data
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// commitUpload applies an NDJSON commit to main: regular files inline,
// LFS files by the object id of an uploaded blob.
func (s *Server) commitUpload(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	rp := s.repos[id]
	s.mu.Unlock()
	_, files := s.commitOf(rp, "main")
	files = maps.Clone(files)
	if files == nil {
		files = map[string][]byte{}
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Key   string `json:"key"`
			Value struct {
				Path, Content, Encoding, OID string
			} `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			hubError(w, http.StatusBadRequest, "", "bad NDJSON line")
			return
		}
		v := line.Value
		switch line.Key {
		case "header":
		case "file":
			data, err := base64.StdEncoding.DecodeString(v.Content)
			if err != nil || v.Encoding != "base64" {
				hubError(w, http.StatusBadRequest, "", "bad file content")
				return
			}
			files[v.Path] = data
		case "lfsFile":
			s.mu.Lock()
			data, ok := s.blobs[v.OID]
			s.mu.Unlock()
			if !ok {
				hubError(w, http.StatusBadRequest, "", "LFS object "+v.OID+" was not uploaded")
				return
			}
			files[v.Path] = bytes.Clone(data)
		default:
			hubError(w, http.StatusBadRequest, "", "unknown key "+line.Key)
			return
		}
	}
	commit := s.Commit(id, "main", files)
	json.NewEncoder(w).Encode(map[string]string{"commitOid": commit, "commitUrl": s.URL + "/" + id + "/commit/" + commit})
}
