package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
		line            int
	}{
		{"unknown filter", "a\n{{ x }}\n{{ messages | frobnicate }}", `filter "frobnicate" is not supported`, 3},
		{"unknown test", "{% if x %}\n{% endif %}\n\n{% if x is divisibleby(3) %}{% endif %}", `test "divisibleby" is not supported`, 4},
		{"unclosed tag", "ok\n\n{{ x ", "{{ is never closed by }}", 3},
		{"unknown statement", "x\n{% frobnicate %}", "", 2},
		{"unclosed raw", "{% raw %}\nx", "never closed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t", tc.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want *Error", err)
			}
			if e.Line != tc.line || !strings.Contains(e.Error(), tc.want) || !strings.Contains(e.Error(), "line") {
				t.Errorf("error %q (line %d), want line %d and %q", e, e.Line, tc.line, tc.want)
			}
		})
	}
}

func TestRenderErrorsNameTheLine(t *testing.T) {
	tmpl, err := Parse("t", "{% for m in messages %}\n{% if m.role == 'tool' %}\n\n{{ raise_exception('no tools: ' + m.content) }}{% endif %}{% endfor %}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render([]Message{{"user", "a"}, {"tool", "b"}}, Options{})
	var e *Error
	if !errors.Is(err, ErrRaised) || !strings.HasSuffix(err.Error(), "no tools: b") || !errors.As(err, &e) || e.Line != 4 {
		t.Fatalf("error %v, want ErrRaised on line 4 with the template's message", err)
	}
	tmpl, err = Parse("t", "a\n{{ messages[0].content }}\n{{ messages[0].content.frobnicate() }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render([]Message{{"user", "a"}}, Options{})
	if !errors.As(err, &e) || e.Line != 3 || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("error %v, want one naming line 3", err)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, pick, want string
		err                   error
	}{
		{"string", `{"chat_template": "{{ bos_token }}{{ messages[0].content }}", "bos_token": {"content": "<s>"}}`, "", "<s>hi", nil},
		{"list default", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}], "eos_token": "</s>"}`, "", "D</s>", nil},
		{"list named", `{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}`, "tool_use", "T", nil},
		{"none", `{"bos_token": "<s>"}`, "", "", ErrNoTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := ParseConfig([]byte(tc.cfg), tc.pick)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render([]Message{{"user", "hi"}}, Options{})
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLoadPrefersJinjaFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"chat_template": "config", "eos_token": "</s>"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte("file{{ eos_token }}\n"), 0o644)
	tmpl, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tmpl.Render(nil, Options{}); got != "file</s>" {
		t.Errorf("got %q, want the chat_template.jinja rendering", got)
	}
	if _, err := Load(t.TempDir(), ""); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("empty dir: %v, want ErrNoTemplate", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"{{ x }}", "{%- if a -%}\n  b\n{% endif %}", "{% raw %}{{{% endraw %}", "{# c #}{{ {'a': {'b': 1}} }}", "{% for m in messages %}{{ m.content | tojson }}{% endfor %}", "{{ (a or b)|tojson(indent=1e1) ~ '\\u00e9\\x41' }}", "{% for k, v in {'in': none}.items() if v %}{{ [k, 1.5, none] }}{% endfor %}{{ 1, 2 }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		tmpl.Render([]Message{{"user", "x"}}, Options{AddGenerationPrompt: true})
	})
}
