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
// replaces what the engine does differently from Python: a {% for %} over
// none (tools, documents) fails with Python's TypeError instead of looping
// zero times; upper() (method and filter) applies the full case mapping (ß
// → SS); {{ }} prints none, booleans, floats, lists and dicts as Python's
// str() does (None, 2.0, ['a', None]); string-literal escapes (\uXXXX,
// \xhh, ...) and exponent number literals are decoded before the engine
// sees them; "| tojson" becomes a call of transformers' tojson (json.dumps
// with ensure_ascii=False, indent, separators, sort_keys); and a line
// marker before each tag lets a rendering error name its line. Known
// remaining differences (of the real templates in testdata only idefics3
// meets one, the undefined attribute lookup, and only with empty content):
// none joined with ~ is "" (Python: "None"); {% with %} is refused at
// Parse time; the % string-formatting operator is not Python's; an
// attribute lookup on an undefined value yields undefined (Python raises);
// tuples are lists; and call arguments unpacked with *args are refused at
// Parse time (AI21 Jamba's template) with the line named. The tests
// compare every template in testdata (and in ../shared when present) with
// renderings made by tools/refgen/chat_templates.py.
package chat
