package tokfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

func TestCheckTemplate(t *testing.T) {
	cases := []struct {
		tmpl string
		line int    // 0: sound
		want string // in the message
	}{
		{chatml, 0, ""},
		{"plain text with } and %} and }} and {", 0, ""},
		{"{%- if a -%}x{%+ elif b +%}y{% else %}z{%- endif %}", 0, ""},
		{"{% for m in messages %}{{ m }}{% else %}none{% endfor %}", 0, ""},
		{"{% set x = '%}' %}{{ x ~ \"}}\" }}{# a {% comment #}", 0, ""},
		{"{% set ns = namespace(a=1) %}{% set ns.a = ns.a == 1 %}", 0, ""},
		{"{% set body %}x{% endset %}{% set y | upper %}z{% endset %}", 0, ""},
		{"{{ {'a': {'b': 1}}['a'] }}{% if {'x': 1} %}{% endif %}", 0, ""},
		{"{% macro f(a=1, b='%}') %}{{ a }}{% endmacro %}{% call(x) f() %}{% endcall %}", 0, ""},
		{"{% raw %}{% if %}{{ {% endraw %}", 0, ""},
		{"{% for x in y %}{% if x %}{% break %}{% endif %}{% continue %}{% endfor %}", 0, ""},
		{"{% generation %}{{ m }}{% endgeneration %}{% filter upper %}a{% endfilter %}", 0, ""},
		{"{% if loop.index % 2 == 0 %}{% endif %}", 0, ""},
		{"{% if\"a\" in x %}{% endif\n%}{%if(y)%}{%endif%}", 0, ""},

		{"{% if a %}x", 1, "{% if %} is never closed by {% endif %}"},
		{"a\n{% for m in messages %}\n{% if m %}\n{% endfor %}", 4, "{% endfor %} where the {% if %} of line 3 needs {% endif %}"},
		{"{% endif %}", 1, "{% endif %} closes no block"},
		{"x\n{{ messages[0]", 2, "{{ is never closed by }}"},
		{"{% if a", 1, "{% is never closed by %}"},
		{"{# note", 1, "{# is never closed by #}"},
		{"{% raw %}{{ x }}", 1, "{% raw %} is never closed"},
		{"{% if a %}{% else %}{% elif b %}{% endif %}", 1, "after the {% else %}"},
		{"{% else %}", 1, "{% else %} outside"},
		{"{% for x in y %}{% elif z %}{% endfor %}", 1, "{% elif %} outside {% if %}"},
		{"{% frobnicate %}", 1, `unknown tag "frobnicate"`},
		{"{% %}", 1, "holds no tag"},
		{"{% 'x' %}", 1, "does not start with a tag name"},
		{"{{ }}", 1, "holds no expression"},
		{"{{ f(a ] }}", 1, "unexpected ']'"},
		{"{{ f(a }}", 1, "unexpected '}'"},
		{"{{ f(a", 1, "'(' is never closed"},
		{"{{ 'abc }}", 1, "string literal is never closed"},
		{"{% set x %}y", 1, "{% set %} is never closed by {% endset %}"},
	}
	for _, c := range cases {
		err := CheckTemplate(c.tmpl)
		var te *TemplateError
		switch {
		case c.line == 0 && err != nil:
			t.Errorf("%q: %v", c.tmpl, err)
		case c.line != 0 && (!errors.As(err, &te) || te.Line != c.line || !strings.Contains(te.Msg, c.want)):
			t.Errorf("%q: err = %v, want line %d and %q", c.tmpl, err, c.line, c.want)
		}
	}
}

// TestCheckTemplateRealTemplates: the tokenizer_config.json files (chat
// templates included) of the vendored and shared tokenizers pass
// CheckConfig.
func TestCheckTemplateRealTemplates(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/tokenizers/*/tokenizer_config.json")
	shared, _ := filepath.Glob("../../../shared/testdata/tokenizers/*/tokenizer_config.json")
	n := 0
	for _, p := range append(paths, shared...) {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var tc struct {
			ChatTemplate any `json:"chat_template"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			t.Fatal(err)
		}
		if tc.ChatTemplate != nil {
			n++
		}
		if err := CheckConfig(raw); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if n == 0 {
		t.Fatal("no chat templates found")
	}
	t.Logf("%d templates", n)
}

func FuzzCheckTemplate(f *testing.F) {
	f.Add(chatml)
	f.Add("{% raw %}{% if %}{% endraw %}{{ {'a': [1, (2)]} }}{# c #}")
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckTemplate(s)
		var te *TemplateError
		if err != nil && (!errors.As(err, &te) || te.Line < 1 || te.Line > 1+strings.Count(s, "\n")) {
			t.Fatalf("err = %v", err)
		}
	})
}
