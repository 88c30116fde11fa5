package chat

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// iterFunc is the function the rewritten template wraps around the
// iterable of every {% for %} (see rewriteFor).
const iterFunc = "__gomerge_iter"

// rewriteFor turns "for T in X [if C] [recursive]" into
// "for T in __gomerge_iter(X) ...". The engine iterates none (and numbers)
// as an empty sequence, where Python raises "TypeError: 'NoneType' object
// is not iterable": a template that loops over tools or documents, which
// transformers passes as None when there are none, must fail as it does
// in Python instead of silently rendering a prompt without them. Tags
// that are not for loops, or whose parts cannot be found, are unchanged.
func rewriteFor(s string) string {
	body := strings.TrimLeft(s, " \t\n")
	if !strings.HasPrefix(body, "for") || len(body) < 4 || isWordByte(body[3]) {
		return s
	}
	lead := len(s) - len(body)
	in := topLevelWord(s, lead+3, "in")
	if in < 0 {
		return s
	}
	start := in + 2
	end := len(s)
	for _, kw := range []string{"if", "recursive"} {
		if k := topLevelWord(s, start, kw); k >= 0 && k < end {
			end = k
		}
	}
	iter := strings.TrimRight(s[start:end], " \t\n")
	if strings.TrimSpace(iter) == "" {
		return s
	}
	stop := start + len(iter)
	return s[:start] + " " + iterFunc + "(" + strings.TrimLeft(iter, " \t") + ")" + s[stop:]
}

// topLevelWord finds the keyword w as a whole word in s from index from,
// outside string literals and brackets; -1 when absent.
func topLevelWord(s string, from int, w string) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			k := i + 1
			for k < len(s) && s[k] != c {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			i = k
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], w) && (i == 0 || !isWordByte(s[i-1]) && s[i-1] != '.') &&
			(i+len(w) == len(s) || !isWordByte(s[i+len(w)])):
			return i
		}
	}
	return -1
}

// iterate is iterFunc: it returns its argument, or Python's TypeError
// for what Python cannot iterate.
func iterate(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 {
		return jinja.Undefined(), fmt.Errorf("%s takes one argument", iterFunc)
	}
	v := args[0]
	switch {
	case v.IsNone():
		return v, fmt.Errorf("'NoneType' object is not iterable (tools and documents are none: gomerge renders conversations without them)")
	case v.IsBool():
		return v, fmt.Errorf("'bool' object is not iterable")
	case v.IsInt():
		return v, fmt.Errorf("'int' object is not iterable")
	case v.IsFloat():
		return v, fmt.Errorf("'float' object is not iterable")
	}
	return v, nil
}
