package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoToken is matched (errors.Is) by uploads attempted without a token.
var ErrNoToken = errors.New("hub: uploading needs a token (HF_TOKEN)")

// CreateRepo creates the model repository repo ("org/name") on the hub, as
// huggingface_hub's create_repo(exist_ok=True) does: a repository that
// exists already is not an error.
func (c *Client) CreateRepo(ctx context.Context, repo string, private bool) error {
	if c.Token == "" {
		return ErrNoToken
	}
	org, name, ok := strings.Cut(repo, "/")
	if !ok || !IsRepoID(repo) {
		return fmt.Errorf("hub: create %s: want ORG/NAME", repo)
	}
	body := map[string]any{"type": "model", "name": name, "organization": org, "private": private}
	resp, err := c.send(ctx, http.MethodPost, c.endpoint()+"/api/repos/create", "application/json", body)
	if err != nil {
		return fmt.Errorf("hub: create %s: %w", repo, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict || resp.StatusCode/100 == 2 {
		return nil
	}
	return fmt.Errorf("hub: create %s: %s", repo, answer(resp))
}

// uploadFile is a file of a folder being uploaded.
type uploadFile struct {
	path, local string
	size        int64
	sample      []byte
	sha         string
	lfs         bool
}

// UploadFolder commits the files under dir (hidden ones left out) to the
// main branch of repo in one commit, the way huggingface_hub's
// upload_folder does: the hub's preupload answer says which files go
// through LFS; those are uploaded first (batch API, then a PUT to the
// address it gives), and the commit names them by their SHA-256. It
// returns the commit's id.
func (c *Client) UploadFolder(ctx context.Context, repo, dir, message string) (string, error) {
	if c.Token == "" {
		return "", ErrNoToken
	}
	files, err := folderFiles(dir)
	if err != nil {
		return "", err
	}
	if err := c.preupload(ctx, repo, files); err != nil {
		return "", err
	}
	if err := c.uploadLFS(ctx, repo, files); err != nil {
		return "", err
	}
	return c.commit(ctx, repo, files, message)
}

func folderFiles(dir string) ([]*uploadFile, error) {
	var files []*uploadFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f := &uploadFile{path: filepath.ToSlash(rel), local: p}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		h := sha256.New()
		var head bytes.Buffer
		n, err := io.Copy(io.MultiWriter(h, &limitedBuffer{&head, 512}), fh)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		f.size, f.sample, f.sha = n, head.Bytes(), hex.EncodeToString(h.Sum(nil))
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hub: upload %s: %w", dir, err)
	}
	return files, nil
}

// limitedBuffer keeps the first n bytes written to it.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *Client) preupload(ctx context.Context, repo string, files []*uploadFile) error {
	type entry struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		Sample string `json:"sample"`
	}
	var req struct {
		Files []entry `json:"files"`
	}
	for _, f := range files {
		req.Files = append(req.Files, entry{f.path, f.size, base64.StdEncoding.EncodeToString(f.sample)})
	}
	var ans struct {
		Files []struct {
			Path       string `json:"path"`
			UploadMode string `json:"uploadMode"`
		} `json:"files"`
	}
	if err := c.jsonCall(ctx, c.endpoint()+"/api/models/"+repo+"/preupload/main", "application/json", req, &ans); err != nil {
		return fmt.Errorf("hub: preupload to %s: %w", repo, err)
	}
	modes := map[string]string{}
	for _, f := range ans.Files {
		modes[f.Path] = f.UploadMode
	}
	for _, f := range files {
		f.lfs = modes[f.path] == "lfs"
	}
	return nil
}

type lfsAction struct {
	Href   string            `json:"href"`
	Header map[string]string `json:"header"`
}

func (c *Client) uploadLFS(ctx context.Context, repo string, files []*uploadFile) error {
	type object struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	req := struct {
		Operation string   `json:"operation"`
		Transfers []string `json:"transfers"`
		Objects   []object `json:"objects"`
		HashAlgo  string   `json:"hash_algo"`
	}{Operation: "upload", Transfers: []string{"basic"}, HashAlgo: "sha256"}
	byOID := map[string]*uploadFile{}
	for _, f := range files {
		if f.lfs {
			req.Objects = append(req.Objects, object{f.sha, f.size})
			byOID[f.sha] = f
		}
	}
	if len(req.Objects) == 0 {
		return nil
	}
	var ans struct {
		Objects []struct {
			OID     string                `json:"oid"`
			Actions map[string]*lfsAction `json:"actions"`
			Error   *struct {
				Message string `json:"message"`
			} `json:"error"`
		} `json:"objects"`
	}
	if err := c.jsonCall(ctx, c.endpoint()+"/"+repo+".git/info/lfs/objects/batch", "application/vnd.git-lfs+json", req, &ans); err != nil {
		return fmt.Errorf("hub: LFS batch for %s: %w", repo, err)
	}
	for _, o := range ans.Objects {
		f := byOID[o.OID]
		if f == nil {
			continue
		}
		if o.Error != nil {
			return fmt.Errorf("hub: upload %s: %s", f.path, o.Error.Message)
		}
		up := o.Actions["upload"]
		if up == nil {
			continue // the hub has these bytes already
		}
		if err := c.put(ctx, up, f); err != nil {
			return fmt.Errorf("hub: upload %s: %w", f.path, err)
		}
		if v := o.Actions["verify"]; v != nil {
			if err := c.jsonCall(ctx, v.Href, "application/vnd.git-lfs+json", object{f.sha, f.size}, nil); err != nil {
				return fmt.Errorf("hub: verify %s: %w", f.path, err)
			}
		}
	}
	return nil
}

func (c *Client) put(ctx context.Context, a *lfsAction, f *uploadFile) error {
	fh, err := os.Open(f.local)
	if err != nil {
		return err
	}
	defer fh.Close()
	req, err := c.newRequest(ctx, http.MethodPut, a.Href)
	if err != nil {
		return err
	}
	req.Body, req.ContentLength = fh, f.size
	for k, v := range a.Header {
		req.Header.Set(k, v)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(answer(resp))
	}
	return nil
}

func (c *Client) commit(ctx context.Context, repo string, files []*uploadFile, message string) (string, error) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	line := func(key string, value any) { enc.Encode(map[string]any{"key": key, "value": value}) }
	line("header", map[string]string{"summary": message, "description": ""})
	for _, f := range files {
		if f.lfs {
			line("lfsFile", map[string]any{"path": f.path, "algo": "sha256", "oid": f.sha, "size": f.size})
			continue
		}
		data, err := os.ReadFile(f.local)
		if err != nil {
			return "", fmt.Errorf("hub: upload %s: %w", f.path, err)
		}
		line("file", map[string]string{"path": f.path, "encoding": "base64", "content": base64.StdEncoding.EncodeToString(data)})
	}
	var ans struct {
		CommitOID string `json:"commitOid"`
	}
	if err := c.jsonCall(ctx, c.endpoint()+"/api/models/"+repo+"/commit/main", "application/x-ndjson", body.Bytes(), &ans); err != nil {
		return "", fmt.Errorf("hub: commit to %s: %w", repo, err)
	}
	return ans.CommitOID, nil
}

// send makes one request with a JSON (or raw, for []byte) body.
func (c *Client) send(ctx context.Context, method, u, contentType string, body any) (*http.Response, error) {
	data, ok := body.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := c.newRequest(ctx, method, u)
	if err != nil {
		return nil, err
	}
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
	req.Header.Set("Content-Type", contentType)
	if strings.Contains(contentType, "git-lfs") {
		req.Header.Set("Accept", contentType)
	}
	return c.httpClient().Do(req)
}

// jsonCall posts body and decodes a 2xx answer into out (nil: ignored).
func (c *Client) jsonCall(ctx context.Context, u, contentType string, body, out any) error {
	resp, err := c.send(ctx, http.MethodPost, u, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return errors.New(answer(resp))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}

// answer is a failed response as an error message: the status and the
// hub's error text.
func answer(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.Status + ": " + e.Error
	}
	return strings.TrimSpace(resp.Status + " " + string(b))
}
