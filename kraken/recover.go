package kraken

import (
	"context"
	"regexp"
	"strings"

	"github.com/gomerge/gomerge/chat"
)

// separatorRe finds what a template prints before a message's content:
// the original's regex {{ SEP + message['content'].
var separatorRe = regexp.MustCompile(`\{\{\s*([^{}]+?)\s*\+ message\['content'\]`)

// templateSeparators are the role separators the original pulls out of a
// chat template (tokenizer_template_switch.extract_separators): the
// expressions before "+ message['content']"; when the first one prints the
// role, it is instantiated for system, user and assistant with its quotes
// removed.
func templateSeparators(template string) []string {
	var seps []string
	for _, m := range separatorRe.FindAllStringSubmatch(template, -1) {
		seps = append(seps, strings.TrimSpace(m[1]))
	}
	for _, s := range seps {
		if strings.Contains(s, "message['role']") {
			var out []string
			for _, role := range []string{"system", "user", "assistant"} {
				out = append(out, strings.ReplaceAll(strings.ReplaceAll(seps[0], " + message['role'] + ", role), "'", ""))
			}
			return out
		}
	}
	return seps
}

// templateEOS is the end-of-turn marker the original splits on
// (detect_eos_token): <|im_end|> or </s> when the template contains it,
// the tokenizer's EOS when the template uses eos_token, else
// <|endoftext|>.
func templateEOS(template, eosToken string) string {
	switch {
	case strings.Contains(template, "<|im_end|>"):
		return "<|im_end|>"
	case strings.Contains(template, "</s>"):
		return "</s>"
	case strings.Contains(template, "eos_token"):
		return eosToken
	}
	return "<|endoftext|>"
}

// RecoverMessages recovers chat messages from text rendered with a chat
// template, as the original's tokenizer_template_switch does before
// routing: text is split on the template's end-of-turn marker, the first
// piece is the system message and the rest alternate user and assistant,
// each stripped of whitespace and of the first occurrence of each role
// separator. Then, as the original's generate does, a system message that
// is only the ChatML system header and a trailing assistant message are
// dropped. The recovery is the original's heuristic, quirks included: it
// is exact for ChatML-like templates and approximate elsewhere.
func RecoverMessages(text, template, eosToken string) []Message {
	seps := templateSeparators(template)
	eos := templateEOS(template, eosToken)
	var parts []string
	if eos == "" {
		// Python's str.split refuses an empty separator; there is
		// nothing to split on.
		parts = []string{text}
	} else {
		parts = strings.Split(text, eos)
	}
	if n := len(parts); n > 0 && strings.TrimSpace(parts[n-1]) == "" {
		parts = parts[:n-1]
	}
	var msgs []Message
	for i, p := range parts {
		role := "system"
		if i > 0 {
			role = []string{"user", "assistant"}[(i-1)%2]
		}
		content := strings.TrimSpace(p)
		for _, s := range seps {
			content = strings.TrimSpace(strings.Replace(content, strings.Trim(s, "'"), "", 1))
		}
		msgs = append(msgs, Message{Role: role, Content: content})
	}
	if len(msgs) > 0 && msgs[0].Role == "system" && msgs[0].Content == "<|im_start|>system" {
		msgs = msgs[1:]
	}
	if len(msgs) > 0 && msgs[len(msgs)-1].Role == "assistant" {
		msgs = msgs[:len(msgs)-1]
	}
	return msgs
}

// GenerateRendered answers a conversation given as text already rendered
// with the router tokenizer's chat template, the input the original's
// generate takes (after decoding its ids): the router classifies the whole
// text, the messages are recovered from it (RecoverMessages) and the
// chosen expert answers them.
func (k *Kraken) GenerateRendered(ctx context.Context, text string, opt GenerateOptions) (*Answer, error) {
	var template string
	if t, err := chat.Load(k.rdir, ""); err == nil {
		template = t.Source()
	}
	eos := ""
	if s := k.rtok.Special().EOS; s.Found {
		eos = s.Token
	}
	r, err := k.RouteText(text)
	if err != nil {
		return nil, err
	}
	return k.answer(ctx, r, RecoverMessages(text, template, eos), opt)
}
