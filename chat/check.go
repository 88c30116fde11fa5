package chat

import (
	"fmt"
	"strings"
	"time"
)

// filters and tests are those the engine implements (github.com/ardanlabs/
// jinja v1.8.0's README and builtins.go); a template using another one is
// refused at Parse with its line instead of failing at some rendering.
var filters = set("abs batch capitalize count default d dictsort escape e first float fromjson indent int items join last length list lower map max min reject rejectattr replace reverse round safe select selectattr sort string sum title tojson trim unique upper wordcount")

var tests = set("defined undefined none boolean integer float number string mapping iterable sequence callable true false odd even upper lower sameas eq ne gt ge lt le in equalto")

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// checkSupported finds the filters and tests the tags use and refuses an
// unknown one, naming its line.
func checkSupported(segs []segment) *Error {
	for _, s := range segs {
		if s.kind != segExpr && s.kind != segStmt {
			continue
		}
		words, lines := tagWords(s.text)
		for i, w := range words {
			line := s.line + lines[i]
			switch {
			case w == "|" && i+1 < len(words) && isIdent(words[i+1]):
				if !filters[words[i+1]] {
					return &Error{Line: line, Msg: fmt.Sprintf("filter %q is not supported", words[i+1])}
				}
			case w == "is" && i+1 < len(words):
				name := words[i+1]
				if name == "not" && i+2 < len(words) {
					name = words[i+2]
				}
				if isIdent(name) && !tests[name] {
					return &Error{Line: line, Msg: fmt.Sprintf("test %q is not supported", name)}
				}
			}
		}
	}
	return nil
}

// tagWords splits a tag body into identifiers and single punctuation
// characters, dropping string literals, with each word's line offset.
func tagWords(s string) (words []string, lines []int) {
	line := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '\'' || c == '"':
			k := i + 1
			for k < len(s) && s[k] != c {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			line += strings.Count(s[i:min(k, len(s))], "\n")
			words, lines = append(words, `""`), append(lines, line)
			i = k + 1
		case isIdentByte(c):
			k := i
			for k < len(s) && (isIdentByte(s[k]) || s[k] >= '0' && s[k] <= '9') {
				k++
			}
			words, lines = append(words, s[i:k]), append(lines, line)
			i = k
		default:
			words, lines = append(words, s[i:i+1]), append(lines, line)
			i++
		}
	}
	return words, lines
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(w string) bool { return w != "" && isIdentByte(w[0]) }

// strftime formats t as Python's datetime.strftime does for the
// directives chat templates use (%d %b %Y and the like); "%-d" style
// unpadded forms are glibc's. Unknown directives are kept as written.
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		pad := true
		if f[i] == '-' && i+1 < len(f) {
			pad = false
			i++
		}
		num := func(v, w int) {
			if pad {
				fmt.Fprintf(&b, "%0*d", w, v)
			} else {
				fmt.Fprintf(&b, "%d", v)
			}
		}
		switch f[i] {
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'j':
			num(t.YearDay(), 3)
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			num((t.Hour()+11)%12+1, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'p':
			b.WriteString(map[bool]string{true: "AM", false: "PM"}[t.Hour() < 12])
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'Z':
			b.WriteString(t.Format("MST"))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			if !pad {
				b.WriteByte('-')
			}
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
