package main

import (
	"strings"
	"testing"
)

// TestLogAroundTheBar: a log line written while the bar is drawn goes
// above it (the bar's line cleared, the bar drawn again), and one written
// after the bar reached 100% starts on its own line, not glued to it
// ("in 0stime=... level=WARN").
func TestLogAroundTheBar(t *testing.T) {
	var out strings.Builder
	bar := newProgress(&out)
	logw := &barWriter{w: &out}
	logw.Write([]byte("before\n"))
	logw.bar.Store(bar)
	bar.update(1, 4)
	logw.Write([]byte("during\n"))
	bar.update(4, 4)
	logw.Write([]byte("after\n"))
	bar.finish()
	got := out.String()
	for _, want := range []string{"before\n\r[", "\r\x1b[Kduring\n\r[", "% ", "in 0s\x1b[K\nafter\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	if strings.HasSuffix(got, "\n\n") {
		t.Errorf("finish added an empty line: %q", got)
	}
}

func TestChangeLabel(t *testing.T) {
	for _, tc := range []struct{ change, want string }{
		{"config.json: eos_token_id 2 -> [2 32001]", "will align"},
		{"generation_config.json: bos_token_id unset -> 1", "will align"},
		{"the chat template ends turns with <|im_end|>, which is not in the vocabulary: generation will not stop", "problem"},
		{"gomerge doctor: the chat template writes <|im_start|>, which the vocabulary lacks", "problem"},
	} {
		if got := changeLabel(tc.change); got != tc.want {
			t.Errorf("changeLabel(%q) = %q, want %q", tc.change, got, tc.want)
		}
	}
}
