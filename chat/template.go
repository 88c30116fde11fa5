package chat

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// A Message is one turn of a conversation.
type Message struct {
	// Role is "system", "user" or "assistant" (templates may accept more).
	Role string `json:"role"`
	// Content is the turn's text.
	Content string `json:"content"`
}

// Options are the variables of one rendering besides the messages.
type Options struct {
	// AddGenerationPrompt asks the template to end with the opening of an
	// assistant turn, the prompt a model answers.
	AddGenerationPrompt bool
	// BOS and EOS, when not empty, are bos_token and eos_token, replacing
	// the template's SpecialTokens entries.
	BOS, EOS string
	// Vars are further variables (date_string, enable_thinking, ...); they
	// cannot replace messages or add_generation_prompt.
	Vars map[string]any
	// Now is strftime_now's clock; nil is time.Now.
	Now func() time.Time
}

// A Template is a parsed chat template, safe for concurrent Render calls.
type Template struct {
	// Name is the template's name: "default" for a tokenizer_config.json
	// holding one string, the list entry's name otherwise.
	Name string
	// SpecialTokens are the tokenizer's special tokens by variable name
	// (bos_token, eos_token, unk_token, pad_token, ...), passed to every
	// rendering as transformers does.
	SpecialTokens map[string]string

	src  string
	prog *jinja.Template
}

// Error is a template that cannot be parsed or rendered. Line is the
// 1-based template line, 0 when the engine did not say.
type Error struct {
	Name string
	Line int
	Msg  string
	Err  error
}

// Error names the template, the line and the problem.
func (e *Error) Error() string {
	s := "chat template"
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Line > 0 {
		s += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Msg != "" {
		return s + ": " + e.Msg
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the engine's error.
func (e *Error) Unwrap() error { return e.Err }

// ErrRaised is wrapped by the error of a rendering that the template
// itself stopped with raise_exception; the error's text is the
// template's message.
var ErrRaised = errors.New("raise_exception")

// Parse parses a chat template's source. name labels errors.
func Parse(name, src string) (*Template, error) {
	// Jinja drops one trailing newline of the source
	// (keep_trailing_newline is off).
	trimmed := strings.TrimSuffix(src, "\n")
	segs, err := lex(trimmed)
	if err != nil {
		err.(*Error).Name = name
		return nil, err
	}
	applyWhitespace(segs)
	if err := checkSupported(segs); err != nil {
		err.Name = name
		return nil, err
	}
	prog, err := jinja.Compile(rewrite(segs))
	if err != nil {
		return nil, engineError(name, err)
	}
	return &Template{Name: name, src: src, prog: prog, SpecialTokens: map[string]string{}}, nil
}

// Source returns the template's source text.
func (t *Template) Source() string { return t.src }

// lineMarker is the function the rewritten template calls with the line
// of each tag it reaches.
const lineMarker = "__gomerge_line"

// rewrite emits a template the engine renders without any whitespace
// processing of its own: every text becomes a string literal in a {{ }}
// (whose raw newlines keep the line numbers of the source), tags lose
// their "-" and "+" marks, and {% generation %} tags (transformers'
// AssistantTracker, which only records offsets) and comments disappear
// but for their newlines. Before each tag a call of lineMarker records
// the tag's line, so that an error while rendering can name it.
func rewrite(segs []segment) string {
	var b strings.Builder
	for _, s := range segs {
		switch {
		case s.kind == segText:
			if s.text != "" {
				b.WriteString(`{{ "`)
				b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s.text))
				b.WriteString(`" }}`)
			}
			if n := s.lines - strings.Count(s.text, "\n"); n > 0 {
				b.WriteString("{#" + strings.Repeat("\n", n) + "#}")
			}
		case s.kind == segComment, s.kind == segStmt && (s.text == "generation" || s.text == "endgeneration" || s.text == "raw" || s.text == "endraw"):
			b.WriteString("{#" + strings.Repeat("\n", s.lines) + "#}")
		case s.kind == segExpr:
			fmt.Fprintf(&b, "{{ %s(%d) }}", lineMarker, s.line)
			b.WriteString("{{ " + printFunc + "(" + engineText(rewriteToJSON(rewriteUpper(s.text))) + ")" + strings.Repeat("\n", s.lines-strings.Count(s.text, "\n")) + " }}")
		default:
			fmt.Fprintf(&b, "{{ %s(%d) }}", lineMarker, s.line)
			b.WriteString("{% " + engineText(rewriteFor(rewriteToJSON(rewriteUpper(s.text)))) + strings.Repeat("\n", s.lines-strings.Count(s.text, "\n")) + " %}")
		}
	}
	return b.String()
}

// engineText adapts a tag's body to the engine: a "}}" or "%}" that
// closes nested literals outside strings gets a space inside (Jinja's
// lexer counts brackets; the engine's scanner would end the tag there),
// and string literals are decoded as Python's unicode-escape codec does
// (\xhh, \uXXXX, \r, ...) and written back with only the escapes the
// engine knows, keeping their raw newlines as newlines after the literal so
// that line numbers do not move.
func engineText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			k := i + 1
			for k < len(s) && s[k] != c {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			lit := s[i+1 : min(k, len(s))]
			b.WriteString(engineLiteral(decodeEscapes(lit)))
			b.WriteString(strings.Repeat("\n", strings.Count(lit, "\n")))
			i = k
		case c == '}' && i > 0 && (s[i-1] == '}' || s[i-1] == '%'):
			b.WriteString(" }")
		case c >= '0' && c <= '9' && (i == 0 || !isWordByte(s[i-1]) && s[i-1] != '.'):
			// The engine reads no exponent: 1e20 is written out.
			k := i
			for k < len(s) && (s[k] >= '0' && s[k] <= '9' || s[k] == '.' || s[k] == '_') {
				k++
			}
			if k < len(s) && (s[k] == 'e' || s[k] == 'E') {
				e := k + 1
				if e < len(s) && (s[e] == '+' || s[e] == '-') {
					e++
				}
				d := e
				for d < len(s) && s[d] >= '0' && s[d] <= '9' {
					d++
				}
				if v, err := strconv.ParseFloat(strings.ReplaceAll(s[i:d], "_", ""), 64); d > e && err == nil && !math.IsInf(v, 0) {
					lit := strconv.FormatFloat(v, 'f', -1, 64)
					if !strings.Contains(lit, ".") {
						lit += ".0"
					}
					b.WriteString(lit)
					i = d - 1
					continue
				}
			}
			b.WriteString(s[i:k])
			i = k - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// engineLiteral writes s as a double-quoted literal with the escapes the
// engine decodes: \\, \", \n and \t.
func engineLiteral(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s) + `"`
}

// decodeEscapes decodes a Jinja string literal's body as Python does
// (str.encode("ascii", "backslashreplace").decode("unicode-escape")):
// unknown escapes keep their backslash.
func decodeEscapes(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case '\n':
			// A backslash before a raw newline joins the lines.
		case '\\', '\'', '"':
			b.WriteByte(c)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if v, err := strconv.ParseUint(s[i+1:min(i+1+n, len(s))], 16, 32); err == nil && i+n < len(s) && utf8.ValidRune(rune(v)) {
				b.WriteRune(rune(v))
				i += n
			} else {
				b.WriteByte('\\')
				b.WriteByte(c)
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			k := i
			for k < len(s) && k < i+3 && s[k] >= '0' && s[k] <= '7' {
				k++
			}
			v, _ := strconv.ParseUint(s[i:k], 8, 32)
			b.WriteRune(rune(v))
			i = k - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Render renders the conversation msgs.
func (t *Template) Render(msgs []Message, opt Options) (string, error) {
	vals := make(map[string]jinja.Value, 8+len(opt.Vars)+len(t.SpecialTokens))
	for k, v := range opt.Vars {
		vals[k] = jinja.FromGoValue(v)
	}
	tokens := maps.Clone(t.SpecialTokens)
	if tokens == nil {
		tokens = map[string]string{}
	}
	if opt.BOS != "" {
		tokens["bos_token"] = opt.BOS
	}
	if opt.EOS != "" {
		tokens["eos_token"] = opt.EOS
	}
	for k, v := range tokens {
		vals[k] = jinja.NewString(v)
	}
	list := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role))
		d.AsDict().Set("content", jinja.NewString(m.Content))
		list[i] = d
	}
	vals["messages"] = jinja.NewList(list)
	vals["add_generation_prompt"] = jinja.NewBool(opt.AddGenerationPrompt)
	vals["tools"] = jinja.None()
	vals["documents"] = jinja.None()
	vals[tojsonFunc] = jinja.NewCallable(tojsonFunc, tojson)
	vals[iterFunc] = jinja.NewCallable(iterFunc, iterate)
	vals[printFunc] = jinja.NewCallable(printFunc, pyPrint)
	vals[upperFunc] = jinja.NewCallable(upperFunc, upper)
	line := 0
	vals[lineMarker] = jinja.NewCallable(lineMarker, func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) == 1 && args[0].IsInt() {
			line = int(args[0].AsInt())
		}
		return jinja.NewString(""), nil
	})
	var raised error
	vals["raise_exception"] = jinja.NewCallable("raise_exception", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		msg := ""
		if len(args) > 0 && args[0].IsString() {
			msg = args[0].AsString()
		} else if len(args) > 0 {
			msg = args[0].String()
		}
		raised = fmt.Errorf("%w: %s", ErrRaised, msg)
		return jinja.Undefined(), raised
	})
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	vals["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Undefined(), errors.New("strftime_now takes one format string")
		}
		return jinja.NewString(strftime(now(), args[0].AsString())), nil
	})
	out, err := t.prog.RenderValues(vals)
	if err != nil {
		if raised != nil {
			return "", &Error{Name: t.Name, Line: line, Msg: strings.TrimPrefix(raised.Error(), ErrRaised.Error()+": "), Err: raised}
		}
		e := engineError(t.Name, err)
		if e.Line == 0 {
			e.Line = line
		}
		return "", e
	}
	return out, nil
}

// engineError turns the engine's "line N: ..." errors into an *Error.
func engineError(name string, err error) *Error {
	msg := err.Error()
	for _, p := range []string{"jinja scan: ", "jinja parse: ", "jinja: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	e := &Error{Name: name, Err: err}
	if n, rest, ok := strings.Cut(msg, ": "); ok {
		var line int
		if _, serr := fmt.Sscanf(n, "line %d", &line); serr == nil {
			e.Line, msg = line, rest
		}
	}
	e.Msg = msg
	return e
}
