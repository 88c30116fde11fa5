package tokensurgeon

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gomerge/gomerge/chat"
	"github.com/gomerge/gomerge/tokenizer"
)

// sampleTurns is the conversation doctor renders: one user message and
// the assistant's answer, whose end the template marks with the token
// generation must stop on.
var sampleTurns = []chat.Message{
	{Role: "user", Content: "What is 2 + 2?"},
	{Role: "assistant", Content: "2 + 2 = 4."},
}

// renderedTurnEnd renders m's chat template on sampleTurns, tokenizes the
// text with m's tokenizer as apply_chat_template(tokenize=True) does (no
// added special tokens) and returns the first token after the assistant's
// answer when it is an added token: the turn end the model was
// trained to emit. ok is false when the template writes nothing after the
// answer or ordinary text. err says why the template could not be
// rendered.
func renderedTurnEnd(m *ModelFiles, tok *tokenizer.Tokenizer) (end string, id int, ok bool, err error) {
	tmpl, err := chat.Parse("default", m.ChatTemplate)
	if err != nil {
		return "", 0, false, err
	}
	for _, role := range []string{"bos", "eos", "unk", "pad"} {
		if t := m.TokenOf(role); t != "" {
			tmpl.SpecialTokens[role+"_token"] = t
		}
	}
	text, err := tmpl.Render(sampleTurns, chat.Options{})
	if err != nil {
		return "", 0, false, err
	}
	answer := sampleTurns[len(sampleTurns)-1].Content
	i := strings.LastIndex(text, answer)
	if i < 0 {
		// A template that leaves past answers out: no turn end to see.
		return "", 0, false, nil
	}
	// Added tokens are split out of the text before the model's own
	// tokenization, so the first token of the text after the answer is
	// the same as in the whole prompt's tokens.
	ids := tok.Encode(text[i+len(answer):], false)
	if len(ids) == 0 || !isAddedToken(tok, ids[0]) {
		return "", 0, false, nil
	}
	s, _ := tok.IDToToken(ids[0])
	return s, ids[0], true, nil
}

// isAddedToken reports whether id is one of the tokenizer's added tokens
// (special or not): the turn markers of chat templates are.
func isAddedToken(tok *tokenizer.Tokenizer, id int) bool {
	return slices.ContainsFunc(tok.AddedTokens(), func(a tokenizer.AddedToken) bool { return a.ID == id })
}

// checkRenderedTemplate is doctor's chat-template check: the turn end of
// the rendered template must be an id generation stops on.
func checkRenderedTemplate(m *ModelFiles, desc func(int) string) []Finding {
	var out []Finding
	add := func(sev Severity, check, msg, fix string) {
		out = append(out, Finding{Severity: sev, Check: check, Model: m.Dir, Message: msg, Fix: fix})
	}
	tok, err := tokenizer.Load(m.Dir)
	if err != nil {
		return nil
	}
	end, id, ok, err := renderedTurnEnd(m, tok)
	if err != nil {
		add(Warning, "chat-template-render", fmt.Sprintf("the chat template does not render a user/assistant conversation: %v", err),
			"fix the template (the error names its line), or check that its features are supported by gomerge chat")
		return out
	}
	if !ok {
		return out
	}
	stops := stopIDs(m)
	if len(stops) > 0 && !slices.Contains(stops, id) {
		add(Error, "turn-end", fmt.Sprintf("the rendered chat template ends the assistant's turn with %s (%d) but generation stops only at %s: generate() runs on past the end of the answer", end, id, idList(stops, desc)),
			fmt.Sprintf("set eos_token_id in generation_config.json to %s", idList(appendUnique(stops, id), strconv.Itoa)))
	}
	return out
}

// turnEndToken is the token m's chat template ends an assistant turn
// with: from the rendered template when it renders and shows one, else
// the first known end-of-turn token among the template's string literals.
func (m *ModelFiles) turnEndToken() string {
	if m.ChatTemplate == "" {
		return ""
	}
	if tok, err := tokenizer.Load(m.Dir); err == nil {
		if end, _, ok, err := renderedTurnEnd(m, tok); err == nil && ok {
			return end
		}
	}
	return turnEnd(m.ChatTemplate)
}
