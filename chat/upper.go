package chat

import (
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// upperFunc is the function the rewritten template calls instead of the
// upper filter and the str.upper method (see rewriteUpper): Python's
// upper() applies the full Unicode case mapping (ß → SS, ﬁ → FI), the
// engine's only the simple one.
const upperFunc = "__gomerge_upper"

// rewriteUpper turns each "X.upper()" and "X | upper" of a tag into
// "__gomerge_upper(X)". An operand that cannot be found is left to the
// engine.
func rewriteUpper(s string) string {
	for from := 0; ; {
		dot, end := findMethod(s, from, "upper")
		if dot < 0 {
			break
		}
		start := operandStart(s, dot)
		if start < 0 {
			from = end
			continue
		}
		s, from = replaceCall(s, start, dot, end)
	}
	for from := 0; ; {
		pipe, end := findFilter(s, from, "upper")
		if pipe < 0 {
			return s
		}
		start := operandStart(s, pipe)
		if start < 0 {
			from = end
			continue
		}
		// "| upper()" takes no arguments either.
		if k := skipSpace(s, end); k+1 < len(s) && s[k] == '(' && s[skipSpace(s, k+1)] == ')' {
			end = skipSpace(s, k+1) + 1
		}
		s, from = replaceCall(s, start, pipe, end)
	}
}

// replaceCall replaces s[start:end] by a call of upperFunc on
// s[start:opEnd], keeping the replaced newlines after the call.
func replaceCall(s string, start, opEnd, end int) (string, int) {
	call := upperFunc + "(" + strings.TrimSpace(s[start:opEnd]) + ")"
	call += strings.Repeat("\n", strings.Count(s[start:end], "\n")-strings.Count(call, "\n"))
	return s[:start] + call + s[end:], start + len(call)
}

func skipSpace(s string, k int) int {
	for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
		k++
	}
	return k
}

// findMethod finds ".name()" outside string literals from index from: the
// index of the "." and the index after the ")", or -1.
func findMethod(s string, from int, name string) (dot, end int) {
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipString(s, i)
		case c == '.' && strings.HasPrefix(s[i+1:], name):
			k := i + 1 + len(name)
			if k < len(s) && isWordByte(s[k]) {
				continue
			}
			k = skipSpace(s, k)
			if k < len(s) && s[k] == '(' {
				if e := skipSpace(s, k+1); e < len(s) && s[e] == ')' {
					return i, e + 1
				}
			}
		}
	}
	return -1, -1
}

var pyUpper = cases.Upper(language.Und)

// upper is upperFunc: Python's str.upper() of a string, of what Jinja
// prints for anything else (the upper filter's soft_str).
func upper(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 {
		return jinja.Undefined(), fmt.Errorf("upper takes no arguments")
	}
	v := args[0]
	switch {
	case v.IsString():
		return jinja.NewString(pyUpper.String(v.AsString())), nil
	case v.IsUndefined():
		return jinja.NewString(""), nil
	}
	p, err := pyPrint(args, nil)
	if err != nil || !p.IsString() {
		return jinja.NewString(pyUpper.String(v.String())), nil
	}
	return jinja.NewString(pyUpper.String(p.AsString())), nil
}
