package chat

import "testing"

func TestRewriteToJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"m | tojson", "__gomerge_tojson(m)"},
		{"messages[0]['content']|tojson", "__gomerge_tojson(messages[0]['content'])"},
		{"a + b|tojson(indent=2)", "a + __gomerge_tojson(b, indent=2)"},
		{"x.y(1) | list | tojson", "__gomerge_tojson(x.y(1) | list)"},
		{"'s' | tojson", "__gomerge_tojson('s')"},
		{"{'a': 1} | tojson", "__gomerge_tojson({'a': 1})"},
		{"not f(x) | tojson", "not __gomerge_tojson(f(x))"},
		{"(a or b) | tojson(sort_keys=true)", "__gomerge_tojson((a or b), sort_keys=true)"},
		{"'|tojson' ~ x", "'|tojson' ~ x"},
		{"x | tojsonx", "x | tojsonx"},
		{"set x = tools | tojson(indent=4)", "set x = __gomerge_tojson(tools, indent=4)"},
		{"a | tojson ~ b | tojson", "__gomerge_tojson(a) ~ __gomerge_tojson(b)"},
		{"f(a | tojson)", "f(__gomerge_tojson(a))"},
		{"x\n| tojson(\nindent=2)", "__gomerge_tojson(x, indent=2)\n\n"},
	} {
		if got := rewriteToJSON(tc.in); got != tc.want {
			t.Errorf("rewriteToJSON(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{{1, "1.0"}, {2.5, "2.5"}, {1e-5, "1e-05"}, {1e20, "1e+20"}, {0.0001, "0.0001"}, {1e16, "1e+16"}, {123456789012345.6, "123456789012345.6"}, {-0.5, "-0.5"}, {1.5e-300, "1.5e-300"}} {
		if got := pyFloat(tc.f); got != tc.want {
			t.Errorf("pyFloat(%g) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
