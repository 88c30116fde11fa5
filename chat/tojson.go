package chat

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ardanlabs/jinja"
)

// tojsonFunc is the function the rewritten template calls instead of the
// engine's tojson filter (see rewriteToJSON).
const tojsonFunc = "__gomerge_tojson"

// rewriteToJSON turns each "X | tojson(ARGS)" of a tag into
// "__gomerge_tojson(X, ARGS)": the engine's filters cannot be replaced,
// and its tojson differs from transformers' when given indent= or
// sort_keys= (it sorts keys and uses encoding/json's separators). X is the
// filter's operand as Jinja parses it: a chain of names, literals,
// attribute lookups, subscripts, calls and earlier filters. A tag whose
// operand cannot be found is left to the engine.
func rewriteToJSON(s string) string {
	for from := 0; ; {
		pipe, nameEnd := findFilter(s, from, "tojson")
		if pipe < 0 {
			return s
		}
		start := operandStart(s, pipe)
		if start < 0 {
			from = nameEnd
			continue
		}
		operand := strings.TrimSpace(s[start:pipe])
		end, args := nameEnd, ""
		k := nameEnd
		for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
			k++
		}
		if k < len(s) && s[k] == '(' {
			close := matchForward(s, k)
			if close < 0 {
				return s
			}
			args, end = strings.TrimSpace(s[k+1:close]), close+1
		}
		call := tojsonFunc + "(" + operand
		if args != "" {
			call += ", " + args
		}
		call += ")"
		// Keep the newlines of what is replaced, after the call.
		call += strings.Repeat("\n", strings.Count(s[start:end], "\n")-strings.Count(call, "\n"))
		s = s[:start] + call + s[end:]
		from = start + len(call)
	}
}

// findFilter finds "| name" outside string literals from index from: the
// index of the "|" and the index after the name, or -1.
func findFilter(s string, from int, name string) (pipe, end int) {
	for i := from; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'' || c == '"':
			i = skipString(s, i)
		case c == '|':
			k := i + 1
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n') {
				k++
			}
			if strings.HasPrefix(s[k:], name) && (k+len(name) == len(s) || !isWordByte(s[k+len(name)])) {
				return i, k + len(name)
			}
		}
	}
	return -1, -1
}

func isWordByte(c byte) bool { return isIdentByte(c) || c >= '0' && c <= '9' }

// skipString returns the index of the quote that closes the literal
// opening at i (len(s)-1 if none).
func skipString(s string, i int) int {
	q := s[i]
	for k := i + 1; k < len(s); k++ {
		if s[k] == '\\' {
			k++
			continue
		}
		if s[k] == q {
			return k
		}
	}
	return len(s) - 1
}

// matchForward returns the index of the bracket closing the one at i, or
// -1.
func matchForward(s string, i int) int {
	depth := 0
	for k := i; k < len(s); k++ {
		switch s[k] {
		case '\'', '"':
			k = skipString(s, k)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth--; depth == 0 {
				return k
			}
		}
	}
	return -1
}

// literalStarts returns, for each closing quote of a string literal in s,
// the index of its opening quote (scanning forward, as the lexer does).
func literalStarts(s string) map[int]int {
	m := map[int]int{}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '"' {
			k := skipString(s, i)
			m[k] = i
			i = k
		}
	}
	return m
}

// operandStart finds where the operand of the filter whose "|" is at
// pipe begins, or -1.
func operandStart(s string, pipe int) int {
	lits := literalStarts(s)
	brackets := map[int]int{} // closing index -> opening index
	var stack []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'', '"':
			i = skipString(s, i)
		case '(', '[', '{':
			stack = append(stack, i)
		case ')', ']', '}':
			if len(stack) > 0 {
				brackets[i] = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		}
	}
	back := func(j int) int {
		for j >= 0 && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
			j--
		}
		return j
	}
	j := back(pipe - 1)
	start := -1
	for j >= 0 {
		c := s[j]
		switch {
		case c == ')' || c == ']' || c == '}':
			o, ok := brackets[j]
			if !ok {
				return -1
			}
			start, j = o, o-1
			if c != '}' && j >= 0 && (isWordByte(s[j]) || s[j] == ')' || s[j] == ']' || s[j] == '\'' || s[j] == '"') {
				continue // a call or a subscript of what precedes
			}
		case c == '\'' || c == '"':
			o, ok := lits[j]
			if !ok {
				return -1
			}
			start, j = o, o-1
		case isWordByte(c) || c == '.' && j > 0 && s[j-1] >= '0' && s[j-1] <= '9':
			for j >= 0 && (isWordByte(s[j]) || s[j] == '.' && j > 0 && s[j-1] >= '0' && s[j-1] <= '9' && j+1 < len(s) && s[j+1] >= '0' && s[j+1] <= '9') {
				j--
			}
			start = j + 1
		default:
			return -1
		}
		// An attribute lookup or an earlier filter continues the operand.
		k := back(j)
		switch {
		case k >= 0 && s[k] == '.':
			j = back(k - 1)
		case k >= 0 && s[k] == '|':
			j = back(k - 1)
		default:
			return start
		}
	}
	return start
}

// tojson is transformers' tojson filter: Python's json.dumps(x,
// ensure_ascii=False, indent=indent, separators=separators,
// sort_keys=sort_keys).
func tojson(args []jinja.Value, kw map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), fmt.Errorf("tojson: no value")
	}
	e := jsonEnc{item: ", ", key: ": "}
	indent, ok := kw["indent"]
	if !ok && len(args) > 1 {
		indent, ok = args[1], true
	}
	if ok && !indent.IsNone() && !indent.IsUndefined() {
		switch {
		case indent.IsInt():
			e.indent = strings.Repeat(" ", int(max(min(indent.AsInt(), 64), 0)))
		case indent.IsString():
			e.indent = indent.AsString()
		default:
			return jinja.Undefined(), fmt.Errorf("tojson: indent must be an integer or a string")
		}
		e.indented, e.item = true, ","
	}
	if v, ok := kw["separators"]; ok && !v.IsNone() && !v.IsUndefined() {
		if !v.IsList() || v.AsList().Len() != 2 || !v.AsList().Items[0].IsString() || !v.AsList().Items[1].IsString() {
			return jinja.Undefined(), fmt.Errorf("tojson: separators must be two strings")
		}
		e.item, e.key = v.AsList().Items[0].AsString(), v.AsList().Items[1].AsString()
	}
	if v, ok := kw["sort_keys"]; ok {
		e.sort = v.IsTruthy()
	}
	if v, ok := kw["ensure_ascii"]; ok {
		e.ascii = v.IsTruthy()
	}
	if err := e.value(args[0], 0); err != nil {
		return jinja.Undefined(), err
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEnc struct {
	b         strings.Builder
	item, key string
	indent    string
	indented  bool
	sort      bool
	ascii     bool
}

func (e *jsonEnc) newline(depth int) {
	if e.indented {
		e.b.WriteByte('\n')
		e.b.WriteString(strings.Repeat(e.indent, depth))
	}
}

func (e *jsonEnc) value(v jinja.Value, depth int) error {
	if depth > 100 {
		return fmt.Errorf("tojson: nested too deep")
	}
	switch {
	case v.IsNone(), v.IsUndefined():
		e.b.WriteString("null")
	case v.IsBool():
		e.b.WriteString(strconv.FormatBool(v.AsBool()))
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		e.b.WriteString(pyFloat(v.AsFloat()))
	case v.IsString():
		pyString(&e.b, v.AsString(), e.ascii)
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			if err := e.value(it, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		keys := d.OrderedKeys()
		if e.sort {
			slices.Sort(keys)
		}
		if len(keys) == 0 {
			e.b.WriteString("{}")
			return nil
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.item)
			}
			e.newline(depth + 1)
			pyString(&e.b, k, e.ascii)
			e.b.WriteString(e.key)
			val, _ := d.Get(k)
			if err := e.value(val, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	default:
		return fmt.Errorf("tojson: cannot encode %s", v.String())
	}
	return nil
}

// pyFloat formats f as Python's float.__repr__ does, with json.dumps'
// names for the non-finite values.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
		sign, digits := exp[:1], strings.TrimLeft(exp[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		return mant + "e" + sign + digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyString writes s as json.dumps does: ", \ and control characters
// escaped, and with ascii (ensure_ascii=True) every non-ASCII character as
// \uXXXX (surrogate pairs beyond the BMP).
func pyString(b *strings.Builder, s string, ascii bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || ascii && r == 0x7f:
			fmt.Fprintf(b, `\u%04x`, r)
		case ascii && r > 0x7f && r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		case ascii && r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
