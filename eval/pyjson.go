package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The harness writes its sample logs with Python's json.dumps(…,
// ensure_ascii=False) and hashes documents with indent=2: pyDict and
// pyJSON reproduce that byte for byte for the values a log holds.

// pyDict is a Python dict: keys in insertion order.
type pyDict []pyItem

type pyItem struct {
	Key   string
	Value any
}

func (d pyDict) get(key string) (any, bool) {
	for _, it := range d {
		if it.Key == key {
			return it.Value, true
		}
	}
	return nil, false
}

// pyFloat is a Python float: repr prints "1.0", not "1".
type pyFloat float64

// pyJSON is json.dumps(v, ensure_ascii=False, indent=indent) for
// v made of pyDict, []any, []string, string, int, pyFloat, float64, bool,
// nil and json.RawMessage (re-encoded as a pyDict). indent < 0 is
// Python's indent=None: ", " and ": " separators on one line.
func pyJSON(v any, indent int) string {
	var b strings.Builder
	writePyJSON(&b, v, indent, 0)
	return b.String()
}

func writePyJSON(b *strings.Builder, v any, indent, depth int) {
	newline := func(d int) {
		if indent >= 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*d))
		}
	}
	sep := ", "
	if indent >= 0 {
		sep = ","
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case pyFloat:
		b.WriteString(pyFloatRepr(float64(x)))
	case float64:
		b.WriteString(pyFloatRepr(x))
	case string:
		writePyString(b, x)
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		writePyJSON(b, l, indent, depth)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			writePyJSON(b, e, indent, depth+1)
		}
		newline(depth)
		b.WriteByte(']')
	case pyDict:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, it := range x {
			if i > 0 {
				b.WriteString(sep)
			}
			newline(depth + 1)
			writePyString(b, it.Key)
			b.WriteString(": ")
			writePyJSON(b, it.Value, indent, depth+1)
		}
		newline(depth)
		b.WriteByte('}')
	case json.RawMessage:
		d, err := rawToPy(x)
		if err != nil {
			writePyString(b, string(x))
			return
		}
		writePyJSON(b, d, indent, depth)
	default:
		writePyString(b, fmt.Sprint(x))
	}
}

// writePyString escapes as Python's json with ensure_ascii=False: only
// the quote, the backslash and control characters.
func writePyString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// pyFloatRepr is Python's repr(float): the shortest round-trip digits,
// positional for exponents −4 … 15, else d.ddde±XX.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return fmt.Sprintf("%se%s%02d", mant, sign, exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyStr is Python's str() of a value as the harness's sanitize_list
// writes response entries.
func pyStr(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return pyFloatRepr(x)
	case pyFloat:
		return pyFloatRepr(float64(x))
	case int:
		return strconv.Itoa(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// rawToPy decodes a JSON object keeping its key order.
func rawToPy(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodePy(dec)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func decodePy(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '{':
			var d pyDict
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodePy(dec)
				if err != nil {
					return nil, err
				}
				d = append(d, pyItem{k.(string), v})
			}
			_, err := dec.Token()
			return d, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodePy(dec)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token()
			return l, err
		}
	case json.Number:
		if i, err := strconv.Atoi(x.String()); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		return pyFloat(f), err
	case string, bool, nil:
		return x, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", t)
}
