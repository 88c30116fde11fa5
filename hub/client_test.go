package hub

import (
	"testing"
	"time"
)

func TestNewClientEnv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  Client
	}{
		{"defaults", map[string]string{"HOME": "/home/u"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/home/u/.cache/huggingface/hub"}},
		{"XDG", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/xdg/huggingface/hub"}},
		{"HF_HOME with ~ and token file", map[string]string{"HOME": "/home/u", "HF_HOME": "~/hf"},
			map[string]string{"/home/u/hf/token": "hf_file\n"},
			Client{Endpoint: DefaultEndpoint, CacheDir: "/home/u/hf/hub", Token: "hf_file"}},
		{"HF_HUB_CACHE wins", map[string]string{"HOME": "/h", "HF_HOME": "/hf", "HF_HUB_CACHE": "$SCRATCH/c", "SCRATCH": "/s", "HUGGINGFACE_HUB_CACHE": "/legacy"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/s/c"}},
		{"legacy cache", map[string]string{"HOME": "/h", "HUGGINGFACE_HUB_CACHE": "/legacy"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/legacy"}},
		{"endpoint, offline, env token over file", map[string]string{"HOME": "/h", "HF_ENDPOINT": "https://mirror.example/", "HF_HUB_OFFLINE": "yes", "HF_TOKEN": " hf_env "},
			map[string]string{"/h/.cache/huggingface/token": "hf_file"},
			Client{Endpoint: "https://mirror.example", CacheDir: "/h/.cache/huggingface/hub", Offline: true, Token: "hf_env"}},
		{"TRANSFORMERS_OFFLINE, legacy token", map[string]string{"HOME": "/h", "TRANSFORMERS_OFFLINE": "1", "HUGGING_FACE_HUB_TOKEN": "hf_old"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub", Offline: true, Token: "hf_old"}},
		{"offline false", map[string]string{"HOME": "/h", "HF_HUB_OFFLINE": "0"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub"}},
		{"download timeout", map[string]string{"HOME": "/h", "HF_HUB_DOWNLOAD_TIMEOUT": "2.5"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub", StallTimeout: 2500 * time.Millisecond}},
		{"etag timeout", map[string]string{"HOME": "/h", "HF_HUB_ETAG_TIMEOUT": "3"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub", MetadataTimeout: 3 * time.Second}},
		{"HF_TOKEN_PATH", map[string]string{"HOME": "/h", "HF_TOKEN_PATH": "/secrets/tok"}, map[string]string{"/secrets/tok": "hf_x"},
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub", Token: "hf_x"}},
		{"implicit token disabled", map[string]string{"HOME": "/h", "HF_TOKEN": "hf_env", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "true"}, nil,
			Client{Endpoint: DefaultEndpoint, CacheDir: "/h/.cache/huggingface/hub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClientEnv(func(k string) string { return tc.env[k] }, func(p string) string { return tc.files[p] })
			if c.Endpoint != tc.want.Endpoint || c.CacheDir != tc.want.CacheDir || c.Offline != tc.want.Offline || c.Token != tc.want.Token || c.StallTimeout != tc.want.StallTimeout ||
				c.MetadataTimeout != tc.want.MetadataTimeout {
				t.Errorf("got endpoint %q cache %q offline %v token %q; want %q %q %v %q", c.Endpoint, c.CacheDir, c.Offline, c.Token,
					tc.want.Endpoint, tc.want.CacheDir, tc.want.Offline, tc.want.Token)
			}
		})
	}
}

func TestIsRepoID(t *testing.T) {
	for s, want := range map[string]bool{
		"gpt2": true, "mistralai/Mistral-7B-v0.1": true, "VAGOsolutions/SauerkrautLM-7b-v1": true, "a/b.c_d-e": true,
		"": false, "a/b/c": false, "a--b/c": false, "a/../b": false, "../x": false, "./x": false, "org/": false, "/x": false,
		"x.git": false, "-a/b": false, "a/b-": false, "has space/x": false, "C:\\models\\x": false,
	} {
		if got := IsRepoID(s); got != want {
			t.Errorf("IsRepoID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, safe, want string }{
		{"main", "", "main"},
		{"refs/pr/1", "", "refs%2Fpr%2F1"},
		{"v1.0+local@x", "", "v1.0%2Blocal%40x"},
		{"sub dir/ü.json", "/", "sub%20dir/%C3%BC.json"},
	} {
		if got := quote(tc.in, tc.safe); got != tc.want {
			t.Errorf("quote(%q, %q) = %q, want %q", tc.in, tc.safe, got, tc.want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in               string
		start, end, size int64
		ok               bool
	}{
		{"bytes 0-9/10", 0, 9, 10, true},
		{"bytes 100-199/*", 100, 199, -1, true},
		{"bytes 5-4/10", 0, 0, 0, false},
		{"bytes 0-10/10", 0, 0, 0, false},
		{"bytes */10", 0, 0, 0, false},
		{"items 0-1/2", 0, 0, 0, false},
	} {
		s, e, n, ok := parseContentRange(tc.in)
		if ok != tc.ok || ok && (s != tc.start || e != tc.end || n != tc.size) {
			t.Errorf("parseContentRange(%q) = %d %d %d %v", tc.in, s, e, n, ok)
		}
	}
}
