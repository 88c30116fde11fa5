package hub

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomerge/gomerge/hub/hubtest"
	"github.com/gomerge/gomerge/safetensors"
)

const repoID = "org/model"

// checkSnapshot checks that dir holds exactly want, each a symlink into
// blobs/ named by the hub's ETag, with files' contents.
func checkSnapshot(t *testing.T, c *Client, commit, dir string, files map[string][]byte, want []string) {
	t.Helper()
	if wantDir := filepath.Join(c.CacheDir, "models--org--model", "snapshots", commit); dir != wantDir {
		t.Fatalf("dir = %s, want %s", dir, wantDir)
	}
	got, err := listSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("snapshot holds %v, want %v", got, want)
	}
	for _, name := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		link, err := os.Readlink(p)
		if err != nil {
			t.Fatalf("%s: not a symlink: %v", name, err)
		}
		etag := hubtest.GitBlobID(files[name])
		if hubtest.IsLFS(name) {
			etag = hubtest.SHA256(files[name])
		}
		if wantLink := strings.Repeat("../", strings.Count(name, "/")) + "../../blobs/" + etag; link != wantLink {
			t.Errorf("%s -> %s, want %s", name, link, wantLink)
		}
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(data, files[name]) {
			t.Errorf("%s: contents differ (err %v)", name, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(c.CacheDir, "models--org--model", "blobs"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".incomplete") {
			t.Errorf("left %s in blobs/", e.Name())
		}
	}
}

func TestResolveDownloadsWhatAMergeNeeds(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	var last Progress
	calls := 0
	c.Progress = func(p Progress) { last = p; calls++ }
	dir, err := c.Resolve(context.Background(), repoID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	ref, err := os.ReadFile(filepath.Join(c.CacheDir, "models--org--model", "refs", "main"))
	if err != nil || string(ref) != commit {
		t.Errorf("refs/main = %q, %v; want %s", ref, err, commit)
	}
	for _, skipped := range []string{"consolidated.safetensors", "training_args.bin", "original/consolidated.00.pth", "README.md"} {
		if n := s.BytesServed(skipped); n != 0 {
			t.Errorf("%s: %d bytes downloaded, want none", skipped, n)
		}
	}
	var total int64
	for _, n := range mergeNeeds {
		if n != "model.safetensors.index.json" { // read by the selector, before the progress starts
			total += int64(len(files[n]))
		}
	}
	if calls == 0 || last.Done != total || last.Total != total {
		t.Errorf("last progress %+v after %d calls, want Done = Total = %d", last, calls, total)
	}
	for _, r := range s.Requests() {
		if r.CDN && r.Auth {
			t.Errorf("token sent to the CDN: %+v", r)
		}
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Names()) != 4 {
		t.Errorf("model has tensors %v", m.Names())
	}

	// A second run finds everything in the cache: one API call, no file.
	s.ResetCounters()
	dir2, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil || dir2 != dir {
		t.Fatalf("second Resolve = %s, %v", dir2, err)
	}
	if reqs := s.Requests(); len(reqs) != 1 || reqs[0].File != "" {
		t.Errorf("second Resolve made requests %+v, want only the API call", reqs)
	}
	// Pinned to the commit, not even that.
	s.ResetCounters()
	if _, err := c.Resolve(context.Background(), repoID, commit, nil); err != nil {
		t.Fatal(err)
	}
	if reqs := s.Requests(); len(reqs) != 0 {
		t.Errorf("Resolve at a cached commit made requests %+v", reqs)
	}
}

func TestResolveSharesBlobsAcrossCommits(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	s.AddRepo(repoID, files)
	c := testClient(t, s)
	if _, err := c.Resolve(context.Background(), repoID, "main", nil); err != nil {
		t.Fatal(err)
	}
	files["config.json"] = []byte(`{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "v": 2}`)
	commit2 := s.Commit(repoID, "main", files)
	s.ResetCounters()
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit2, dir, files, mergeNeeds)
	for _, n := range mergeNeeds {
		if got := s.BytesServed(n); n != "config.json" && got != 0 {
			t.Errorf("%s downloaded again (%d bytes) though its blob is cached", n, got)
		}
	}
}

func TestResumeAfterCutConnection(t *testing.T) {
	const shard = "model-00001-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	s.Cut(shard, 100_000, 2) // twice, to see the retry count restart after progress
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	if got, want := s.BytesServed(shard), int64(len(files[shard])); got != want {
		t.Errorf("served %d bytes of %s, want %d: the download restarted instead of resuming", got, shard, want)
	}
	var ranges []string
	for _, r := range s.Requests() {
		if r.File == shard && r.Method == http.MethodGet {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", "bytes=100000-", "bytes=100000-"}; !slices.Equal(ranges, want) {
		t.Errorf("GET ranges %q, want %q", ranges, want)
	}
}

func TestResumeAcrossRuns(t *testing.T) {
	const shard = "model-00002-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	c.Retries = -1
	s.Cut(shard, 150_000, 1)
	_, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err == nil || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("Resolve with a cut connection and no retries: err = %v", err)
	}
	part := filepath.Join(c.CacheDir, "models--org--model", "blobs", hubtest.SHA256(files[shard])+".incomplete")
	if st, err := os.Stat(part); err != nil || st.Size() != 150_000 {
		t.Fatalf("partial download: %v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(c.CacheDir, "models--org--model", "snapshots", commit, shard)); err == nil {
		t.Fatal("the partial file is linked into the snapshot")
	}
	s.ResetCounters()
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	if got, want := s.BytesServed(shard), int64(len(files[shard])-150_000); got != want {
		t.Errorf("second run fetched %d bytes of %s, want the missing %d", got, shard, want)
	}
}

func TestChecksumMismatch(t *testing.T) {
	for _, file := range []string{"model-00001-of-00002.safetensors", "config.json"} {
		t.Run(file, func(t *testing.T) {
			s := hubtest.NewServer(t)
			files := testModel(t)
			commit := s.AddRepo(repoID, files)
			c := testClient(t, s)
			s.Corrupt(file, true)
			_, err := c.Resolve(context.Background(), repoID, "main", nil)
			var ce *ChecksumError
			if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) || ce.File != file {
				t.Fatalf("err = %v, want a checksum error for %s", err, file)
			}
			t.Log(err)
			etag := hubtest.GitBlobID(files[file])
			if hubtest.IsLFS(file) {
				etag = hubtest.SHA256(files[file])
			}
			blob := filepath.Join(c.CacheDir, "models--org--model", "blobs", etag)
			for _, p := range []string{blob, blob + ".incomplete", filepath.Join(c.CacheDir, "models--org--model", "snapshots", commit, file)} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s exists after a failed verification", p)
				}
			}
			// Once the hub serves the right bytes, the next run succeeds.
			s.Corrupt(file, false)
			dir, err := c.Resolve(context.Background(), repoID, "main", nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshot(t, c, commit, dir, files, mergeNeeds)
		})
	}
}

func TestCorruptPartialFileIsRedownloaded(t *testing.T) {
	const shard = "model-00002-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	blobs := filepath.Join(c.CacheDir, "models--org--model", "blobs")
	os.MkdirAll(blobs, 0o777)
	// A stale .incomplete file with wrong bytes, as a crash might leave.
	if err := os.WriteFile(filepath.Join(blobs, hubtest.SHA256(files[shard])+".incomplete"), make([]byte, 1000), 0o666); err != nil {
		t.Fatal(err)
	}
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
}

func TestOffline(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	online := testClient(t, s)
	want, err := online.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	off := *testClient(t, s)
	off.CacheDir, off.Offline = online.CacheDir, true
	for _, rev := range []string{"", "main", commit} {
		dir, err := off.Resolve(context.Background(), repoID, rev, nil)
		if err != nil || dir != want {
			t.Errorf("offline Resolve(%q) = %s, %v; want %s", rev, dir, err, want)
		}
	}
	// Not cached: a clear error, and no request (the server is gone
	// anyway). It names HF_HUB_OFFLINE only when that made the client
	// offline.
	env := newClientEnv(func(k string) string {
		return map[string]string{"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": online.CacheDir}[k]
	}, func(string) string { return "" })
	for _, tc := range []struct{ repo, rev, msg string }{
		{"org/other", "main", "no record of revision"},
		{repoID, "v2", `no record of revision "v2"`},
		{repoID, strings.Repeat("ab", 20), "no snapshot of commit"},
	} {
		_, err := off.Resolve(context.Background(), tc.repo, tc.rev, nil)
		if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), tc.msg) ||
			!strings.Contains(err.Error(), "only the cache was searched") || strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
			t.Errorf("offline Resolve(%s@%s): err = %v", tc.repo, tc.rev, err)
		}
		_, err = env.Resolve(context.Background(), tc.repo, tc.rev, nil)
		if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE is set in the environment: unset it") {
			t.Errorf("Resolve(%s@%s) with HF_HUB_OFFLINE=1: err = %v", tc.repo, tc.rev, err)
		}
	}
	// A snapshot missing a shard is not complete.
	os.Remove(filepath.Join(want, "model-00002-of-00002.safetensors"))
	_, err = off.Resolve(context.Background(), repoID, "main", nil)
	if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") {
		t.Errorf("offline Resolve of a partial snapshot: err = %v", err)
	}
	// Online but unreachable: the cache serves what it holds.
	onlineGone := *testClient(t, s)
	onlineGone.CacheDir, onlineGone.Retries = online.CacheDir, -1
	if _, err := onlineGone.Resolve(context.Background(), repoID, "main", Files("config.json")); err != nil {
		t.Errorf("Resolve with the hub down and the file cached: %v", err)
	}
	if _, err := onlineGone.Resolve(context.Background(), repoID, "main", nil); err == nil {
		t.Error("Resolve with the hub down and a shard missing succeeded")
	}
}

func TestRevisionPinning(t *testing.T) {
	s := hubtest.NewServer(t)
	v1 := testModel(t)
	c1 := s.AddRepo(repoID, v1)
	v2 := testModel(t)
	v2["config.json"] = []byte(`{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 3}`)
	c2 := s.Commit(repoID, "main", v2)
	s.Tag(repoID, "v1.0", c1)
	v3 := testModel(t)
	v3["config.json"] = []byte(`{"architectures": ["MistralForCausalLM"]}`)
	c3 := s.Commit(repoID, "feature/x", v3)
	c := testClient(t, s)
	for _, tc := range []struct {
		rev, commit, ref string
		files            map[string][]byte
	}{
		{"main", c2, "main", v2},
		{"", c2, "main", v2},
		{c1, c1, "", v1},
		{"v1.0", c1, "v1.0", v1},
		{"feature/x", c3, "feature/x", v3},
	} {
		dir, err := c.Resolve(context.Background(), repoID, tc.rev, nil)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tc.rev, err)
		}
		checkSnapshot(t, c, tc.commit, dir, tc.files, mergeNeeds)
		if tc.ref != "" {
			ref, err := os.ReadFile(filepath.Join(c.CacheDir, "models--org--model", "refs", filepath.FromSlash(tc.ref)))
			if err != nil || string(ref) != tc.commit {
				t.Errorf("refs/%s = %q, %v; want %s", tc.ref, ref, err, tc.commit)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(c.CacheDir, "models--org--model", "refs", c1)); err == nil {
		t.Error("a ref was written for a commit hash")
	}
	// The branch moves: the next Resolve follows it and updates the ref.
	v4 := testModel(t)
	c4 := s.Commit(repoID, "main", v4)
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, c4, dir, v4, mergeNeeds)
	_, err = c.Resolve(context.Background(), repoID, "no-such-branch", nil)
	if !errors.Is(err, ErrRevisionNotFound) || !strings.Contains(err.Error(), `no branch, tag or commit "no-such-branch"`) {
		t.Errorf("unknown revision: err = %v", err)
	}
}

func TestGatedRepo(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo("meta/gated", files)
	s.Gate("meta/gated", "hf_secret")
	c := testClient(t, s)
	_, err := c.Resolve(context.Background(), "meta/gated", "main", nil)
	var he *HTTPError
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 401 ||
		!strings.Contains(err.Error(), "HF_TOKEN") || !strings.Contains(err.Error(), "gated") {
		t.Fatalf("gated repo without a token: err = %v", err)
	}
	t.Log(err)
	c.Token = "hf_wrong"
	_, err = c.Resolve(context.Background(), "meta/gated", "main", nil)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "refused the token") {
		t.Fatalf("gated repo with a wrong token: err = %v", err)
	}
	s.AddUser("hf_not_granted")
	c.Token = "hf_not_granted"
	_, err = c.Resolve(context.Background(), "meta/gated", "main", nil)
	if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &he) || he.StatusCode != 403 || !strings.Contains(err.Error(), "request access at") {
		t.Fatalf("gated repo, token without access: err = %v", err)
	}
	t.Log(err)
	c.Token = "hf_secret"
	dir, err := c.Resolve(context.Background(), "meta/gated", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.CacheDir, "models--meta--gated", "snapshots", commit); dir != want {
		t.Errorf("dir = %s, want %s", dir, want)
	}
	for _, r := range s.Requests() {
		if r.CDN && r.Auth {
			t.Errorf("token sent to the CDN: %+v", r)
		}
	}
}

func TestNotFound(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, testModel(t))
	c := testClient(t, s)
	// Without a token the hub answers 401 for a missing repository.
	_, err := c.Resolve(context.Background(), "org/typo", "main", nil)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "does not exist, or it is private or gated") {
		t.Errorf("missing repo, no token: err = %v", err)
	}
	c.Token = "hf_any"
	_, err = c.Resolve(context.Background(), "org/typo", "main", nil)
	if !errors.Is(err, ErrRepoNotFound) || !strings.Contains(err.Error(), `no model repository "org/typo"`) {
		t.Errorf("missing repo: err = %v", err)
	}
	t.Log(err)
	_, err = c.Resolve(context.Background(), repoID, "main", Files("nope.json"))
	if !errors.Is(err, ErrFileNotFound) {
		t.Errorf("missing file: err = %v", err)
	}
	_, err = c.Resolve(context.Background(), "not a repo", "main", nil)
	if err == nil || !strings.Contains(err.Error(), "valid Hugging Face repository id") {
		t.Errorf("bad id: err = %v", err)
	}
}

func TestNoWeights(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, map[string][]byte{"config.json": []byte("{}"), "README.md": nil, "model.gguf": []byte("GGUF")})
	c := testClient(t, s)
	_, err := c.Resolve(context.Background(), repoID, "main", nil)
	if !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), "model.gguf") {
		t.Errorf("err = %v", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests; want only the API call, before any download", n)
	}
}

func TestRetries(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	s.Fail("", 2, http.StatusServiceUnavailable)
	s.Fail("model-00001-of-00002.safetensors", 3, http.StatusBadGateway)
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)

	c2 := testClient(t, s)
	c2.Retries = 2
	s.Fail("", 3, http.StatusInternalServerError)
	_, err = c2.Resolve(context.Background(), repoID, "main", nil)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("after 3 failures with 2 retries: err = %v", err)
	}
}

func TestPytorchAndAdapterSelection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		index string
		want  []string
	}{
		{"bin index", []string{"config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "training_args.bin"},
			`{"weight_map": {"a": "pytorch_model-00001-of-00002.bin", "b": "pytorch_model-00002-of-00002.bin"}}`,
			[]string{"config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json"}},
		{"single bin", []string{"config.json", "pytorch_model.bin", "vocab.txt", "merges.txt", "optimizer.pt"}, "",
			[]string{"config.json", "merges.txt", "pytorch_model.bin", "vocab.txt"}},
		{"safetensors over bin", []string{"config.json", "model.safetensors", "pytorch_model.bin"}, "",
			[]string{"config.json", "model.safetensors"}},
		{"lora", []string{"adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md", "tokenizer.json"}, "",
			[]string{"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"}},
		{"lora bin", []string{"adapter_config.json", "adapter_model.bin"}, "",
			[]string{"adapter_config.json", "adapter_model.bin"}},
		{"odd safetensors name", []string{"config.json", "consolidated.safetensors", "chat_template.jinja", "additional_chat_templates/tool.jinja"}, "",
			[]string{"additional_chat_templates/tool.jinja", "chat_template.jinja", "config.json", "consolidated.safetensors"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(string) ([]byte, error) { return []byte(tc.index), nil }
			got, err := MergeFiles(tc.files, read)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("MergeFiles = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	_, err := MergeFiles([]string{"model.safetensors.index.json"}, func(string) ([]byte, error) {
		return []byte(`{"weight_map": {"a": "../../etc/passwd"}}`), nil
	})
	if err == nil {
		t.Error("an index naming a shard outside the repository was accepted")
	}
}

func TestRepoNameInURLs(t *testing.T) {
	// A repository without an organisation, and a file in a subfolder.
	s := hubtest.NewServer(t)
	files := map[string][]byte{"config.json": []byte("{}"), "model.safetensors": safetensorsFile(t, 4, map[string]int{"w": 10}),
		"additional_chat_templates/tool use.jinja": []byte("{{x}}")}
	commit := s.AddRepo("gpt2", files)
	c := testClient(t, s)
	dir, err := c.Resolve(context.Background(), "gpt2", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.CacheDir, "models--gpt2", "snapshots", commit); dir != want {
		t.Errorf("dir = %s, want %s", dir, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "additional_chat_templates", "tool use.jinja")); err != nil || string(b) != "{{x}}" {
		t.Errorf("subfolder file: %q, %v", b, err)
	}
}

func TestStalledDownloadIsResumed(t *testing.T) {
	const shard = "model-00001-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	c.StallTimeout = 100 * time.Millisecond
	s.Stall(shard, 70_000, 1)
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	if got, want := s.BytesServed(shard), int64(len(files[shard])); got != want {
		t.Errorf("served %d bytes of %s, want %d", got, shard, want)
	}
}

func TestCancel(t *testing.T) {
	const shard = "model-00001-of-00002.safetensors"
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, testModel(t))
	c := testClient(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	c.Progress = func(p Progress) {
		if p.File == shard {
			cancel()
		}
	}
	s.Stall(shard, 70_000, 1)
	_, err := c.Resolve(ctx, repoID, "main", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestExpiredCDNURLIsRefreshed(t *testing.T) {
	const shard = "model-00001-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	s.Cut(shard, 100_000, 1)
	s.FailCDN(shard, 1, http.StatusForbidden) // the signed URL expired
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	var heads int
	for _, r := range s.Requests() {
		if r.File == shard && r.Method == http.MethodHead {
			heads++
		}
	}
	if heads != 2 {
		t.Errorf("%d HEAD requests for %s, want 2 (the second for a fresh URL)", heads, shard)
	}
}

func TestServerIgnoringRange(t *testing.T) {
	const shard = "model-00001-of-00002.safetensors"
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	s.Cut(shard, 100_000, 1)
	s.IgnoreRange(shard, true)
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)
	if got, want := s.BytesServed(shard), int64(100_000+len(files[shard])); got != want {
		t.Errorf("served %d bytes of %s, want %d (cut, then the whole file again)", got, shard, want)
	}
	// The headers-only path copes too, by skipping to the offset.
	f, err := c.OpenRemote(context.Background(), repoID, "main", shard)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := f.ReadAt(p, 1000); err != nil || !bytes.Equal(p, files[shard][1000:1010]) {
		t.Errorf("ReadAt from a server that ignores Range: %v", err)
	}
}
