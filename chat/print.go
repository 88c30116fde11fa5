package chat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/ardanlabs/jinja"
)

// printFunc is the function the rewritten template wraps around every
// {{ expression }}: Jinja prints str(value), and the engine's text for
// none (""), for floats with integral values ("2" for 2.0) and for the
// strings inside lists and dicts differs from Python's.
const printFunc = "__gomerge_print"

// pyPrint is printFunc: Python's str() of none, booleans, floats, lists
// and dicts; strings, integers and undefined as the engine prints them.
func pyPrint(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 {
		// {{ a, b }} prints a tuple.
		var b strings.Builder
		b.WriteByte('(')
		for i, a := range args {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(&b, a)
		}
		b.WriteByte(')')
		return jinja.NewString(b.String()), nil
	}
	v := args[0]
	switch {
	case v.IsNone(), v.IsBool(), v.IsFloat(), v.IsList(), v.IsDict():
		var b strings.Builder
		pyRepr(&b, v)
		return jinja.NewString(b.String()), nil
	}
	return v, nil
}

// pyRepr writes Python's repr of v (str of a list or dict is the repr of
// its items).
func pyRepr(b *strings.Builder, v jinja.Value) {
	switch {
	case v.IsNone():
		b.WriteString("None")
	case v.IsBool():
		if v.AsBool() {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case v.IsInt():
		b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		f := v.AsFloat()
		switch {
		case math.IsNaN(f):
			b.WriteString("nan")
		case math.IsInf(f, 1):
			b.WriteString("inf")
		case math.IsInf(f, -1):
			b.WriteString("-inf")
		default:
			b.WriteString(pyFloat(f))
		}
	case v.IsString():
		pyQuote(b, v.AsString())
	case v.IsList():
		b.WriteByte('[')
		for i, it := range v.AsList().Items {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(b, it)
		}
		b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		b.WriteByte('{')
		for i, k := range d.OrderedKeys() {
			if i > 0 {
				b.WriteString(", ")
			}
			pyQuote(b, k)
			b.WriteString(": ")
			val, _ := d.Get(k)
			pyRepr(b, val)
		}
		b.WriteByte('}')
	default:
		b.WriteString(v.String())
	}
}

// pyQuote writes Python's repr of a string: single quotes unless the
// text holds ' and no ", backslash escapes for the quote, \, \n, \r, \t
// and other unprintable characters.
func pyQuote(b *strings.Builder, s string) {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\' || r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0:
			fmt.Fprintf(b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			if r > 0xffff {
				fmt.Fprintf(b, `\U%08x`, r)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
}
