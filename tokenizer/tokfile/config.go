package tokfile

import (
	"encoding/json"
	"fmt"
)

// SpecialTokenKeys are the special-token fields of tokenizer_config.json
// and special_tokens_map.json (transformers' SPECIAL_TOKENS_ATTRIBUTES,
// less the additional_special_tokens list).
var SpecialTokenKeys = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}

// SpecialToken reads a special-token field: a string or an AddedToken
// object with a string "content" gives the token; null or absent gives ok
// false. Anything else (a number, a list) is an error, as transformers
// refuses it on load ("Cannot set a non-string value as the BOS token").
func SpecialToken(raw json.RawMessage) (tok string, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	if json.Unmarshal(raw, &tok) == nil {
		return tok, true, nil
	}
	var o struct {
		Content *string `json:"content"`
	}
	if raw[0] == '{' && json.Unmarshal(raw, &o) == nil && o.Content != nil {
		return *o.Content, true, nil
	}
	return "", false, fmt.Errorf("%s is not a token: want a string, an AddedToken object with a string \"content\", or null", abbrev(raw))
}

// FieldError is an error about one field of a side file.
type FieldError struct {
	// Field is the key, e.g. "bos_token" or "additional_special_tokens[2]".
	Field string
	Err   error
}

// Error names the field, then the problem.
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// CheckConfig checks tokenizer_config.json or special_tokens_map.json held
// in data: a JSON object whose special-token fields (SpecialTokenKeys) are
// tokens as SpecialToken reads them, whose additional_special_tokens is a
// list of tokens and whose chat_template is a string or a list of
// {"name", "template"} strings, each passing CheckTemplate. An error about
// a field is a *FieldError.
func CheckConfig(data []byte) error {
	if len(data) > MaxFileSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), MaxFileSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("not a JSON object")
	}
	for _, k := range SpecialTokenKeys {
		if _, _, err := SpecialToken(raw[k]); err != nil {
			return &FieldError{k, err}
		}
	}
	if v := raw["additional_special_tokens"]; len(v) > 0 && string(v) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return &FieldError{"additional_special_tokens", fmt.Errorf("%s is not a list of tokens", abbrev(v))}
		}
		for i, e := range list {
			if _, ok, err := SpecialToken(e); err != nil || !ok {
				return &FieldError{fmt.Sprintf("additional_special_tokens[%d]", i), fmt.Errorf("%s is not a token", abbrev(e))}
			}
		}
	}
	if v := raw["chat_template"]; len(v) > 0 && string(v) != "null" {
		var s string
		var named []struct {
			Name     *string `json:"name"`
			Template *string `json:"template"`
		}
		if json.Unmarshal(v, &s) == nil {
			if err := CheckTemplate(s); err != nil {
				return &FieldError{"chat_template", err}
			}
			return nil
		}
		if err := json.Unmarshal(v, &named); err != nil {
			return &FieldError{"chat_template", fmt.Errorf("%s is neither a string nor a list of {\"name\", \"template\"}", abbrev(v))}
		}
		for i, n := range named {
			if n.Name == nil || n.Template == nil {
				return &FieldError{fmt.Sprintf("chat_template[%d]", i), fmt.Errorf("want a string \"name\" and \"template\"")}
			}
			if err := CheckTemplate(*n.Template); err != nil {
				return &FieldError{fmt.Sprintf("chat_template[%d] (%s)", i, *n.Name), err}
			}
		}
	}
	return nil
}

// abbrev shortens a JSON value for an error message.
func abbrev(raw json.RawMessage) string {
	const n = 40
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}
