// Package chat renders Hugging Face chat templates: the Jinja programs in
// tokenizer_config.json's chat_template (or chat_template.jinja) that turn
// a list of messages into the prompt text a chat model was trained on.
//
// Rendering follows transformers' apply_chat_template(tokenize=False): a
// sandboxed Jinja environment with trim_blocks and lstrip_blocks, the
// loopcontrols extension ({% break %}, {% continue %}), {% generation %}
// blocks rendered as plain text, the globals raise_exception (an error
// carrying the template's message) and strftime_now, a tojson filter that
// does not escape non-ASCII text, the variables messages,
// add_generation_prompt and the tokenizer's special tokens (bos_token,
// eos_token, ...), and no tools or documents.
//
// The expressions are evaluated by github.com/ardanlabs/jinja; this
// package does the lexing that decides whitespace itself (Jinja's rules
// for {%- -%}, lstrip_blocks and trim_blocks, and {% raw %}), so that the
// rendered text matches Python's Jinja byte for byte, and checks filters
// and tests against what the engine supports so that an unsupported
// feature is an error naming its template line at Parse time. It also
// replaces what the engine does differently from Python: string-literal
// escapes (\uXXXX, \xhh, ...) and exponent number literals are decoded
// before the engine sees them, "| tojson" becomes a call of transformers'
// tojson (json.dumps with ensure_ascii=False, indent, separators,
// sort_keys), and a line marker before each tag lets a rendering error
// name its line. Known remaining differences: the engine's upper() maps ß
// to ß (Python: SS), {{ none }} prints nothing (Python: None), and the %
// string-formatting operator is not Python's. The tests
// compare every template in testdata (and in ../shared when present) with
// renderings made by tools/refgen/chat_templates.py.
package chat
