package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChatTmuxCtrlC runs `gomerge chat` interactively in a tmux terminal
// on stories260K with an unbounded context (its answers never end by
// themselves), presses Ctrl-C while an answer streams, and checks that the
// answer stops, the prompt comes back, a second message is answered, and
// Ctrl-D quits with exit status 0.
func TestChatTmuxCtrlC(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "gomerge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := storiesDir(t)
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `"max_position_embeddings": 512`, `"max_position_embeddings": 1000000`, 1))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)

	sock := filepath.Join(tmp, "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	status := filepath.Join(tmp, "status")
	tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", "chat",
		bin+" chat "+dir+" --temperature 0 --max-new-tokens 0; echo $? > "+status+"; sleep 60")
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", "chat", "-S", "-1000") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; screen:\n%s", what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// capture-pane drops trailing spaces: the prompt "> " is a last line ">".
	prompt := func(s string) bool { return strings.HasSuffix(strings.TrimRight(s, "\n "), "\n>") }
	waitFor("the prompt", prompt)
	tmux("send-keys", "-t", "chat", "Once upon a time", "Enter")
	waitFor("a streaming answer", func(s string) bool { return strings.Contains(s, "Lily") })
	tmux("send-keys", "-t", "chat", "C-c")
	s := waitFor("the answer to stop", func(s string) bool { return strings.Contains(s, "[interrupted]") })
	if _, err := os.Stat(status); err == nil {
		t.Fatalf("Ctrl-C during an answer ended the program; screen:\n%s", s)
	}
	waitFor("the prompt again", prompt)
	tmux("send-keys", "-t", "chat", "The dog", "Enter")
	waitFor("a second answer", func(s string) bool {
		return strings.Count(s, "[interrupted]") == 1 && strings.Contains(s, "> The dog\n") && len(s) > len(strings.SplitN(s, "> The dog\n", 2)[0])+40
	})
	tmux("send-keys", "-t", "chat", "C-c")
	waitFor("the second answer to stop", func(s string) bool { return strings.Count(s, "[interrupted]") == 2 })
	waitFor("the prompt after it", prompt)
	tmux("send-keys", "-t", "chat", "C-d")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(status)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if code := strings.TrimSpace(string(b)); code != "0" {
				t.Fatalf("exit status %s after Ctrl-D; screen:\n%s", code, screen())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit after Ctrl-D; screen:\n%s", screen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
