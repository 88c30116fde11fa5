package chat

import (
	"fmt"
	"strings"
)

// segment kinds of a lexed template.
const (
	segText = iota
	segExpr
	segStmt
	segComment
)

// A segment is a piece of template source: raw text or a tag's body.
type segment struct {
	kind   int
	text   string // text, or the tag body without delimiters and marks
	line   int    // 1-based line where the segment starts
	lines  int    // newlines inside the segment's source (delimiters included)
	trimL  bool   // {%- {{- {#-
	trimR  bool   // -%} -}} -#}
	plusL  bool   // {%+ : no lstrip_blocks before this tag
	plusR  bool   // +%} : no trim_blocks after this tag
	rawTag bool   // text that came from a {% raw %} block: never trimmed
}

// lex splits a template into text and tags the way Jinja's lexer does,
// skipping string literals inside tags, and turns {% raw %} blocks into
// text.
func lex(src string) ([]segment, error) {
	var segs []segment
	line := 1
	i, textStart := 0, 0
	flushText := func(end int) {
		if end > textStart {
			t := src[textStart:end]
			segs = append(segs, segment{kind: segText, text: t, line: line, lines: strings.Count(t, "\n")})
			line += strings.Count(t, "\n")
		}
	}
	for i < len(src) {
		k := strings.IndexByte(src[i:], '{')
		if k < 0 || i+k+1 >= len(src) {
			break
		}
		i += k
		var kind int
		switch src[i+1] {
		case '{':
			kind = segExpr
		case '%':
			kind = segStmt
		case '#':
			kind = segComment
		default:
			i++
			continue
		}
		flushText(i)
		start := i
		body, next, err := tagEnd(src, i+2, kind)
		if err != "" {
			return nil, &Error{Line: line, Msg: err}
		}
		seg := segment{kind: kind, line: line, lines: strings.Count(src[start:next], "\n")}
		if strings.HasPrefix(body, "-") {
			seg.trimL, body = true, body[1:]
		} else if strings.HasPrefix(body, "+") && kind != segExpr {
			seg.plusL, body = true, body[1:]
		}
		if strings.HasSuffix(body, "-") {
			seg.trimR, body = true, body[:len(body)-1]
		} else if strings.HasSuffix(body, "+") && kind != segExpr {
			seg.plusR, body = true, body[:len(body)-1]
		}
		seg.text = strings.TrimSpace(body)
		line += seg.lines
		i, textStart = next, next
		if kind == segStmt && seg.text == "raw" {
			segs = append(segs, seg)
			end, inner, endSeg := rawBlock(src, next)
			if end < 0 {
				return nil, &Error{Line: seg.line, Msg: "{% raw %} is never closed by {% endraw %}"}
			}
			segs = append(segs, segment{kind: segText, text: inner, line: line, lines: strings.Count(inner, "\n"), rawTag: true})
			line += strings.Count(inner, "\n")
			endSeg.line = line
			line += endSeg.lines
			segs = append(segs, endSeg)
			i, textStart = end, end
			continue
		}
		segs = append(segs, seg)
	}
	i = len(src)
	flushText(i)
	return segs, nil
}

// tagEnd scans a tag from i, just after its opening delimiter, to the
// index after its closing one, returning the body between them. Comments
// end at the first #}; in other tags string literals are skipped.
func tagEnd(src string, i, kind int) (body string, next int, err string) {
	open := i
	if kind == segComment {
		k := strings.Index(src[i:], "#}")
		if k < 0 {
			return "", 0, "{# is never closed by #}"
		}
		return src[open : i+k], i + k + 2, ""
	}
	closer := "}}"
	if kind == segStmt {
		closer = "%}"
	}
	depth := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\'' || c == '"':
			k := i + 1
			for k < len(src) && src[k] != c {
				if src[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(src) {
				return "", 0, "a string literal is never closed"
			}
			i = k + 1
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case (c == ')' || c == ']' || c == '}') && depth > 0:
			depth--
		case depth == 0 && strings.HasPrefix(src[i:], closer):
			return src[open:i], i + 2, ""
		}
		i++
	}
	return "", 0, fmt.Sprintf("%s is never closed by %s", map[int]string{segExpr: "{{", segStmt: "{%"}[kind], closer)
}

// rawBlock finds the {% endraw %} after a raw tag that ends at i: it
// returns the index after it, the raw text and the end tag's segment.
func rawBlock(src string, i int) (end int, inner string, endSeg segment) {
	for from := i; ; {
		k := strings.Index(src[from:], "{%")
		if k < 0 {
			return -1, "", segment{}
		}
		at := from + k
		body, next, err := tagEnd(src, at+2, segStmt)
		if err != "" {
			return -1, "", segment{}
		}
		b := strings.TrimSpace(strings.Trim(strings.TrimSpace(body), "-+"))
		if b == "endraw" {
			s := segment{kind: segStmt, text: "endraw", lines: strings.Count(src[at:next], "\n")}
			t := strings.TrimSpace(body)
			s.trimL = strings.HasPrefix(t, "-")
			s.trimR = strings.HasSuffix(t, "-")
			return next, src[i:at], s
		}
		from = at + 2
	}
}

// applyWhitespace applies Jinja's whitespace control with trim_blocks and
// lstrip_blocks on, as Python's Jinja lexer does: a "-" mark strips all
// whitespace on its side; trim_blocks drops the one newline right after a
// block or comment tag; lstrip_blocks strips the spaces and tabs before a
// block or comment tag that starts its line. Text from {% raw %} blocks
// only loses what "-" marks strip.
func applyWhitespace(segs []segment) {
	for i := range segs {
		s := &segs[i]
		if s.kind != segText {
			continue
		}
		var prev, next *segment
		if i > 0 {
			prev = &segs[i-1]
		}
		if i+1 < len(segs) {
			next = &segs[i+1]
		}
		// lineStart: the text begins a line as Jinja sees it, i.e. it is
		// the template's start or follows a newline a tag consumed.
		lineStart := prev == nil
		switch {
		case prev != nil && prev.trimR:
			t := strings.TrimLeft(s.text, " \t\r\n\f\v")
			lineStart = strings.HasSuffix(s.text[:len(s.text)-len(t)], "\n")
			s.text = t
		case prev != nil && prev.kind != segExpr && !prev.plusR && !s.rawTag:
			if strings.HasPrefix(s.text, "\n") {
				s.text, lineStart = s.text[1:], true
			}
		}
		switch {
		case next != nil && next.trimL:
			s.text = strings.TrimRight(s.text, " \t\r\n\f\v")
		case next != nil && next.kind != segExpr && !next.plusL && !s.rawTag:
			l := strings.LastIndexByte(s.text, '\n') + 1
			if (l > 0 || lineStart) && l < len(s.text) && strings.Trim(s.text[l:], " \t\r\f\v") == "" {
				s.text = s.text[:l]
			}
		}
	}
}
