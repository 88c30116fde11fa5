package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
)

// TestPlanOfflineReportsEveryModel: gomerge plan on a config of hub
// models that are not cached names every one of them in one run, in text
// and --json, with a hint that says why only the cache was searched: the
// environment, the flag, or a hub that refused the connection.
func TestPlanOfflineReportsEveryModel(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := "merge_method: ties\nbase_model: acme/base\nmodels:\n  - model: acme/ft1\n    parameters: {densty: 0.5, weight: 0.5}\n  - model: acme/ft2\n    parameters: {density: 0.5, weight: 0.5}\n"
	if err := os.WriteFile("config.yml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	refusing := "http://" + l.Addr().String()
	l.Close()
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_ENDPOINT", refusing)
	t.Setenv("HF_TOKEN", "")
	for _, tc := range []struct {
		name, env string
		flags     []string
		hint      string
		notHint   string
	}{
		{"HF_HUB_OFFLINE", "1", nil, "HF_HUB_OFFLINE=1 is set in the environment", "--offline"},
		{"--offline", "", []string{"--offline"}, "--offline was given", "HF_HUB_OFFLINE"},
		{"hub refuses", "", nil, "the hub did not answer", "offline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HF_HUB_OFFLINE", tc.env)
			var stdout, stderr bytes.Buffer
			args := append([]string{"plan", "config.yml", "--json"}, tc.flags...)
			if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			var got configFailure
			if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
				t.Fatalf("--json output %q: %v", stdout.String(), err)
			}
			if want := "acme/base acme/ft1 acme/ft2"; strings.Join(got.Unresolved, " ") != want {
				t.Errorf("unresolved_models %v, want %s", got.Unresolved, want)
			}
			var lines []int
			for _, e := range got.Errors {
				lines = append(lines, e.Line)
			}
			if len(got.Errors) != 4 || lines[0] != 2 || lines[1] != 4 || lines[2] != 5 || lines[3] != 6 ||
				!strings.Contains(got.Errors[2].Message, `did you mean "density"`) || got.Errors[0].Model != "acme/base" || !got.Errors[0].NotFound {
				t.Errorf("errors %+v; want the base, ft1, the typo and ft2 by line", got.Errors)
			}
			if !strings.Contains(got.Hint, tc.hint) || strings.Contains(got.Hint, tc.notHint) {
				t.Errorf("hint %q; want it to say %q and not %q", got.Hint, tc.hint, tc.notHint)
			}
			text := stderr.String()
			if !strings.Contains(text, "3 models were not found: acme/base, acme/ft1, acme/ft2") || !strings.Contains(text, "hint: "+got.Hint) {
				t.Errorf("stderr:\n%s", text)
			}
		})
	}
}

// TestPlanJSONConfigError: a config that does not parse is reported as
// JSON too, with its line.
func TestPlanJSONConfigError(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("config.yml", []byte("models:\n  - model: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"plan", "config.yml", "--json"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var got configFailure
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("--json output %q: %v", stdout.String(), err)
	}
	if len(got.Errors) != 1 || got.Errors[0].File != "config.yml" || got.Errors[0].Line != 1 || !strings.Contains(got.Errors[0].Message, "merge_method") {
		t.Errorf("errors %+v", got.Errors)
	}
}
