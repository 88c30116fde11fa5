package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// metadataKey is the reserved header key holding string metadata.
const metadataKey = "__metadata__"

// parseHeader parses and checks the JSON header. It walks the token stream
// rather than unmarshalling into a map so that it can reject duplicate keys,
// which a map would silently merge. The returned tensors are in header order,
// with Offset relative to the data section.
func parseHeader(hdr []byte) (map[string]string, []TensorInfo, error) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, &FormatError{Err: errors.New("header does not start with '{'")}
	}
	// encoding/json replaces invalid UTF-8 with U+FFFD; the Rust crate rejects it.
	if !utf8.Valid(hdr) {
		return nil, nil, &FormatError{Err: errors.New("header is not valid UTF-8")}
	}
	p := headerParser{dec: json.NewDecoder(bytes.NewReader(hdr))}
	p.dec.UseNumber()
	if err := p.delim('{'); err != nil {
		return nil, nil, &FormatError{Err: err}
	}
	var (
		meta    map[string]string
		tensors []TensorInfo
		seen    = make(map[string]bool)
	)
	for p.dec.More() {
		key, err := p.string()
		if err != nil {
			return nil, nil, &FormatError{Err: err}
		}
		if seen[key] {
			return nil, nil, &FormatError{Tensor: key, Err: fmt.Errorf("%w %q", errDuplicateKey, key)}
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = p.metadata(); err != nil {
				return nil, nil, &FormatError{Err: fmt.Errorf("%s: %w", metadataKey, err)}
			}
			continue
		}
		t, err := p.tensor(key)
		if err != nil {
			return nil, nil, &FormatError{Tensor: key, Err: err}
		}
		tensors = append(tensors, t)
	}
	if err := p.delim('}'); err != nil {
		return nil, nil, &FormatError{Err: err}
	}
	// Padding spaces may follow the object; nothing else may.
	if _, err := p.dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the header object")
		}
		return nil, nil, &FormatError{Err: fmt.Errorf("header JSON: %w", err)}
	}
	return meta, tensors, nil
}

type headerParser struct {
	dec *json.Decoder
}

func (p *headerParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("header JSON: %w", err)
	}
	return tok, nil
}

func (p *headerParser) delim(want json.Delim) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("header JSON: got %s, want %q", describe(tok), want)
	}
	return nil
}

func (p *headerParser) string() (string, error) {
	tok, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("got %s, want a string", describe(tok))
	}
	return s, nil
}

// metadata parses the __metadata__ value: an object of strings, or null,
// which the Rust crate reads as absent.
func (p *headerParser) metadata() (map[string]string, error) {
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("got %s, want an object of strings", describe(tok))
	}
	meta := make(map[string]string)
	for p.dec.More() {
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if _, dup := meta[k]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicateKey, k)
		}
		v, err := p.string()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		meta[k] = v
	}
	return meta, p.delim('}')
}

// tensor parses one tensor entry, which must have exactly the fields dtype,
// shape and data_offsets.
func (p *headerParser) tensor(name string) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	tok, err := p.token()
	if err != nil {
		return t, err
	}
	if tok != json.Delim('{') {
		return t, fmt.Errorf("got %s, want an object", describe(tok))
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int64
	for p.dec.More() {
		key, err := p.string()
		if err != nil {
			return t, err
		}
		var dup bool
		switch key {
		case "dtype":
			dup, haveDType = haveDType, true
			var s string
			if s, err = p.string(); err != nil {
				err = fmt.Errorf("dtype: %w", err)
			} else if t.DType = DType(s); t.DType.Size() == 0 {
				err = fmt.Errorf("unknown dtype %s", quoteShort(s))
			}
		case "shape":
			dup, haveShape = haveShape, true
			t.Shape, err = p.ints("shape", -1)
			if err == nil && t.Shape == nil {
				t.Shape = []int64{}
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			offsets, err = p.ints("data_offsets", 2)
		default:
			return t, fmt.Errorf("unknown field %s", quoteShort(key))
		}
		if dup {
			return t, fmt.Errorf("%w %q", errDuplicateKey, key)
		}
		if err != nil {
			return t, err
		}
	}
	if err := p.delim('}'); err != nil {
		return t, err
	}
	switch {
	case !haveDType:
		return t, errors.New("missing dtype")
	case !haveShape:
		return t, errors.New("missing shape")
	case !haveOffsets:
		return t, errors.New("missing data_offsets")
	}
	begin, end := offsets[0], offsets[1]
	if begin > end {
		return t, fmt.Errorf("data_offsets [%d,%d] end before they begin", begin, end)
	}
	size, err := byteSize(t.DType, t.Shape)
	if err != nil {
		return t, err
	}
	if size != end-begin {
		return t, fmt.Errorf("shape %v × %s is %d bytes but data_offsets span %d", t.Shape, t.DType, size, end-begin)
	}
	t.Offset, t.Size = begin, size
	return t, nil
}

// ints parses an array of non-negative integers that fit in an int64; n >= 0
// demands exactly n of them.
func (p *headerParser) ints(field string, n int) ([]int64, error) {
	if err := p.delim('['); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	var v []int64
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s: got %s, want a non-negative integer", field, describe(tok))
		}
		x, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("%s: %s: %w", field, num, errRange)
			}
			return nil, fmt.Errorf("%s: got %s, want a non-negative integer", field, num)
		}
		if x > math.MaxInt64 {
			return nil, fmt.Errorf("%s: %s: %w", field, num, errRange)
		}
		v = append(v, int64(x))
	}
	if err := p.delim(']'); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if n >= 0 && len(v) != n {
		return nil, fmt.Errorf("%s has %d values, want %d", field, len(v), n)
	}
	return v, nil
}

// byteSize returns product(shape) × dtype size, failing on overflow the way
// the Rust crate's checked multiplication does.
func byteSize(dt DType, shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt64/d {
			return 0, fmt.Errorf("shape %v: element count %w", shape, errRange)
		}
		n *= d
	}
	es := int64(dt.Size())
	if es == 0 {
		return 0, fmt.Errorf("unknown dtype %q", dt)
	}
	if n > math.MaxInt64/es {
		return 0, fmt.Errorf("shape %v × %s: byte size %w", shape, dt, errRange)
	}
	return n * es, nil
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return strconv.Quote(v.String())
	case string:
		return "string " + quoteShort(v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprintf("%v", tok)
}

// quoteShort quotes s for a message, eliding the middle of long strings.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max / 2
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	end := len(s) - max/2
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return strconv.Quote(s[:cut]) + "..." + strconv.Quote(s[end:])
}
