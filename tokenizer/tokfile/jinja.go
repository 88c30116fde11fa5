package tokfile

import (
	"fmt"
	"strings"
)

// This file is a structural check of Jinja chat templates, not a Jinja
// parser: gomerge has no template engine. It finds what makes a Jinja
// parser (transformers' sandboxed environment, with the loopcontrols
// extension and its {% generation %} tag) reject a template for its
// structure — an unclosed {{ }}, {% %}, {# #} or {% raw %}, brackets that do
// not balance, an empty tag, an unknown tag, a block closed by the wrong end
// tag or never closed, an elif or else out of place — and nothing about
// the expressions themselves. A real Jinja library can replace CheckTemplate
// without changing its callers.

// TemplateError is a structural error in a chat template.
type TemplateError struct {
	// Line is the 1-based line of the offending delimiter or tag.
	Line int
	Msg  string
}

// Error names the line and the problem.
func (e *TemplateError) Error() string {
	return fmt.Sprintf("chat template line %d: %s", e.Line, e.Msg)
}

// blockEnds maps the tags that open a block to the tags that end it.
var blockEnds = map[string]string{
	"if": "endif", "for": "endfor", "macro": "endmacro", "call": "endcall", "filter": "endfilter",
	"block": "endblock", "with": "endwith", "autoescape": "endautoescape", "set": "endset",
	"generation": "endgeneration",
}

// inlineTags are the tags that open no block.
var inlineTags = map[string]bool{
	"extends": true, "include": true, "import": true, "from": true, "break": true, "continue": true,
}

// CheckTemplate reports the first structural error of a Jinja template as
// a *TemplateError, nil when its structure is sound (which does not mean
// that it renders: expressions are not parsed).
func CheckTemplate(tmpl string) error {
	type open struct {
		tag      string
		line     int
		sawElse  bool
		elseable bool // for: else allowed once; if: elif and else
	}
	var stack []open
	at, atLine := 0, 1 // positions only grow: count newlines once
	line := func(i int) int {
		atLine += strings.Count(tmpl[at:i], "\n")
		at = i
		return atLine
	}
	for i := 0; i < len(tmpl); {
		j := strings.IndexByte(tmpl[i:], '{')
		if j < 0 || i+j+1 >= len(tmpl) {
			break
		}
		i += j
		start := i
		switch tmpl[i+1] {
		case '#':
			end := strings.Index(tmpl[i+2:], "#}")
			if end < 0 {
				return &TemplateError{line(start), "{# is never closed by #}"}
			}
			i += 2 + end + 2
		case '{', '%':
			closer := "}}"
			if tmpl[i+1] == '%' {
				closer = "%}"
			}
			body, next, err := tagBody(tmpl, i+2, closer[0])
			if err != "" {
				return &TemplateError{line(start), err}
			}
			i = next
			if closer == "}}" {
				if body == "" {
					return &TemplateError{line(start), "{{ }} holds no expression"}
				}
				continue
			}
			// The tag is the leading name, as Jinja's lexer reads it.
			n := 0
			for n < len(body) && (body[n] == '_' || 'a' <= body[n]|0x20 && body[n]|0x20 <= 'z' || n > 0 && '0' <= body[n] && body[n] <= '9') {
				n++
			}
			tag, rest := body[:n], body[n:]
			switch {
			case body == "":
				return &TemplateError{line(start), "{% %} holds no tag"}
			case tag == "":
				return &TemplateError{line(start), fmt.Sprintf("{%% %s %%} does not start with a tag name", body)}
			case tag == "raw":
				end := rawEnd(tmpl, i)
				if end < 0 {
					return &TemplateError{line(start), "{% raw %} is never closed by {% endraw %}"}
				}
				i = end
			case tag == "set" && hasAssign(rest):
				// {% set x = value %} opens no block.
			case blockEnds[tag] != "":
				stack = append(stack, open{tag: tag, line: line(start), elseable: tag == "if" || tag == "for"})
			case tag == "elif" || tag == "else":
				if len(stack) == 0 || !stack[len(stack)-1].elseable || tag == "elif" && stack[len(stack)-1].tag != "if" {
					return &TemplateError{line(start), fmt.Sprintf("{%% %s %%} outside {%% if %%}%s", tag, map[bool]string{true: " or {% for %}"}[tag == "else"])}
				}
				top := &stack[len(stack)-1]
				if top.sawElse {
					return &TemplateError{line(start), fmt.Sprintf("{%% %s %%} after the {%% else %%} of the {%% %s %%} on line %d", tag, top.tag, top.line)}
				}
				top.sawElse = tag == "else"
			case inlineTags[tag]:
			case strings.HasPrefix(tag, "end"):
				if len(stack) == 0 {
					return &TemplateError{line(start), fmt.Sprintf("{%% %s %%} closes no block", tag)}
				}
				top := stack[len(stack)-1]
				if want := blockEnds[top.tag]; tag != want {
					return &TemplateError{line(start), fmt.Sprintf("{%% %s %%} where the {%% %s %%} of line %d needs {%% %s %%}", tag, top.tag, top.line, want)}
				}
				stack = stack[:len(stack)-1]
			default:
				return &TemplateError{line(start), fmt.Sprintf("unknown tag %q", tag)}
			}
		default:
			i++
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return &TemplateError{top.line, fmt.Sprintf("{%% %s %%} is never closed by {%% %s %%}", top.tag, blockEnds[top.tag])}
	}
	return nil
}

// tagBody scans a {{ }} or {% %} tag from i, just after its opening
// delimiter, to its closing one (end is '}' or '%', followed by '}'),
// skipping string literals and balanced brackets as Jinja's lexer does. It
// returns the trimmed body without whitespace-control marks and the index
// after the tag, or a message.
func tagBody(tmpl string, i int, end byte) (body string, next int, err string) {
	open := i
	var brackets []byte
	for i < len(tmpl) {
		c := tmpl[i]
		switch {
		case c == '\'' || c == '"':
			k := i + 1
			for k < len(tmpl) && tmpl[k] != c {
				if tmpl[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(tmpl) {
				return "", 0, "a string literal is never closed"
			}
			i = k + 1
			continue
		case c == '(' || c == '[' || c == '{':
			brackets = append(brackets, c)
		case c == ')' || c == ']' || c == '}' && (len(brackets) > 0 || end != '}'):
			want := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
			if len(brackets) == 0 || brackets[len(brackets)-1] != want {
				return "", 0, fmt.Sprintf("unexpected %q", c)
			}
			brackets = brackets[:len(brackets)-1]
		case c == end && i+1 < len(tmpl) && tmpl[i+1] == '}' && len(brackets) == 0:
			b := strings.TrimSpace(tmpl[open:i])
			b = strings.TrimPrefix(strings.TrimPrefix(b, "-"), "+")
			b = strings.TrimSuffix(strings.TrimSuffix(b, "-"), "+")
			return strings.TrimSpace(b), i + 2, ""
		}
		i++
	}
	if len(brackets) > 0 {
		return "", 0, fmt.Sprintf("%q is never closed", brackets[len(brackets)-1])
	}
	return "", 0, fmt.Sprintf("{%c is never closed by %c}", map[byte]byte{'}': '{', '%': '%'}[end], end)
}

// rawEnd is the index after the {% endraw %} that ends a raw block whose
// opening tag ends at i, or -1. Like Jinja, it looks for the end tag as
// text: nothing inside a raw block is parsed.
func rawEnd(tmpl string, i int) int {
	for {
		k := strings.Index(tmpl[i:], "{%")
		if k < 0 {
			return -1
		}
		i += k + 2
		j := i
		if j < len(tmpl) && (tmpl[j] == '-' || tmpl[j] == '+') {
			j++
		}
		for j < len(tmpl) && strings.IndexByte(" \t\r\n", tmpl[j]) >= 0 {
			j++
		}
		if !strings.HasPrefix(tmpl[j:], "endraw") {
			continue
		}
		j += len("endraw")
		for j < len(tmpl) && strings.IndexByte(" \t\r\n", tmpl[j]) >= 0 {
			j++
		}
		if j < len(tmpl) && tmpl[j] == '-' {
			j++
		}
		if strings.HasPrefix(tmpl[j:], "%}") {
			return j + 2
		}
	}
}

// hasAssign reports whether a set statement's text after "set" holds a
// top-level "=" (an assignment, not a block set).
func hasAssign(s string) bool {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '=':
			prev := byte(0)
			if i > 0 {
				prev = s[i-1]
			}
			next := byte(0)
			if i+1 < len(s) {
				next = s[i+1]
			}
			if next != '=' && prev != '=' && prev != '!' && prev != '<' && prev != '>' {
				return true
			}
		}
	}
	return false
}
