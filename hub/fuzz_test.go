package hub

import (
	"strings"
	"testing"
)

func FuzzParseRepoInfo(f *testing.F) {
	f.Add([]byte(`{"id": "a/b", "sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "config.json", "size": 3, "blobId": "x"},
		{"rfilename": "model.safetensors", "size": 9, "lfs": {"sha256": "AB", "size": 9}}]}`))
	f.Add([]byte(`{"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": "../x"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, files, err := parseRepoInfo("a/b", data)
		if err != nil {
			return
		}
		for name := range files {
			if checkFileName(name) != nil {
				t.Fatalf("accepted file name %q", name)
			}
		}
	})
}

func FuzzMergeFiles(f *testing.F) {
	f.Add("config.json\nmodel.safetensors.index.json\nmodel-1.safetensors", `{"weight_map": {"a": "model-1.safetensors"}}`)
	f.Add("adapter_config.json\nadapter_model.bin", "")
	f.Add("pytorch_model.bin.index.json\nx.bin", `{"weight_map": {"a": "/etc/passwd"}}`)
	f.Fuzz(func(t *testing.T, list, index string) {
		files := strings.Split(list, "\n")
		has := map[string]bool{}
		for _, n := range files {
			has[n] = true
		}
		got, err := MergeFiles(files, func(string) ([]byte, error) { return []byte(index), nil })
		if err != nil {
			return
		}
		for _, n := range got {
			if !has[n] {
				t.Fatalf("selected %q, which is not among the files", n)
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-9/10")
	f.Add("bytes 1-2/*")
	f.Fuzz(func(t *testing.T, s string) {
		start, end, size, ok := parseContentRange(s)
		if ok && (start < 0 || end < start || size != -1 && end >= size) {
			t.Fatalf("parseContentRange(%q) = %d %d %d", s, start, end, size)
		}
	})
}
