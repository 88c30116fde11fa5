package chat

import "testing"

func TestRewriteFor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"for m in messages", "for m in __gomerge_iter(messages)"},
		{" for m in messages if m.role != 'system'", " for m in __gomerge_iter(messages) if m.role != 'system'"},
		{"for k, v in {'in': 1, 'if': 2}.items()", "for k, v in __gomerge_iter({'in': 1, 'if': 2}.items())"},
		{"for x in xs recursive", "for x in __gomerge_iter(xs) recursive"},
		{"for x in tools\n", "for x in __gomerge_iter(tools)\n"},
		{"for info in infos if 'in' in info", "for info in __gomerge_iter(infos) if 'in' in info"},
		{"format x", "format x"},
		{"if x in y", "if x in y"},
		{"for x", "for x"},
	} {
		if got := rewriteFor(tc.in); got != tc.want {
			t.Errorf("rewriteFor(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRewriteUpper(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"m.content.upper()", "__gomerge_upper(m.content)"},
		{"m['role'].upper() + 'x'", "__gomerge_upper(m['role']) + 'x'"},
		{"x | trim | upper", "__gomerge_upper(x | trim)"},
		{"x|upper()|length", "__gomerge_upper(x)|length"},
		{"'a.upper()' ~ b.upper ( )", "'a.upper()' ~ __gomerge_upper(b)"},
		{"x.uppercase", "x.uppercase"},
		{"role | upper != 'SYSTEM'", "__gomerge_upper(role) != 'SYSTEM'"},
	} {
		if got := rewriteUpper(tc.in); got != tc.want {
			t.Errorf("rewriteUpper(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
