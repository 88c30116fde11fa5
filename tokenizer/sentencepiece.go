package tokenizer

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"

	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// PieceType is a SentencePiece piece's type.
type PieceType int

// The SentencePiece piece types, as numbered in sentencepiece_model.proto.
const (
	PieceNormal      PieceType = 1
	PieceUnknown     PieceType = 2
	PieceControl     PieceType = 3
	PieceUserDefined PieceType = 4
	PieceUnused      PieceType = 5
	PieceByte        PieceType = 6
)

// Piece is one entry of a SentencePiece model.
type Piece struct {
	Text  string
	Score float32
	Type  PieceType
}

// SentencePieceModel is the part of a tokenizer.model (ModelProto) that
// encoding needs.
type SentencePieceModel struct {
	Pieces []Piece
	// ModelType is 1 for Unigram, 2 for BPE.
	ModelType                  int
	ByteFallback               bool
	UnkID, BOSID, EOSID, PADID int
	NormalizerName             string
	AddDummyPrefix             bool
	RemoveExtraWhitespaces     bool
	EscapeWhitespaces          bool
}

// protoField is one decoded field of a protobuf message.
type protoField struct {
	num  int
	wire int
	v    uint64 // varint and fixed values
	b    []byte // length-delimited payload
}

// protoFields decodes the fields of a protobuf message.
func protoFields(b []byte) ([]protoField, error) {
	var out []protoField
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad field key")
		}
		b = b[n:]
		f := protoField{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, fmt.Errorf("field %d: bad varint", f.num)
			}
			f.v, b = v, b[n:]
		case 1:
			if len(b) < 8 {
				return nil, fmt.Errorf("field %d: short fixed64", f.num)
			}
			f.v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, fmt.Errorf("field %d: bad length", f.num)
			}
			f.b, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return nil, fmt.Errorf("field %d: short fixed32", f.num)
			}
			f.v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return nil, fmt.Errorf("field %d: unsupported wire type %d", f.num, f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseSentencePiece parses a SentencePiece tokenizer.model. Like
// sentencepiece it refuses a model that defines a piece twice; a piece's id
// is its index, checked with tokfile.CheckBounds.
func ParseSentencePiece(data []byte) (*SentencePieceModel, error) {
	if len(data) > tokfile.MaxFileSize {
		return nil, fmt.Errorf("%w: tokenizer.model: %w: %d bytes", ErrFormat, tokfile.ErrTooLarge, len(data))
	}
	m := &SentencePieceModel{ModelType: 1, UnkID: 0, BOSID: 1, EOSID: 2, PADID: -1,
		AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true}
	top, err := protoFields(data)
	if err != nil {
		return nil, formatErr("tokenizer.model: %v", err)
	}
	for _, f := range top {
		switch {
		case f.num == 1 && f.wire == 2:
			p := Piece{Type: PieceNormal}
			fs, err := protoFields(f.b)
			if err != nil {
				return nil, formatErr("tokenizer.model piece %d: %v", len(m.Pieces), err)
			}
			for _, g := range fs {
				switch {
				case g.num == 1 && g.wire == 2:
					p.Text = string(g.b)
				case g.num == 2 && g.wire == 5:
					p.Score = math.Float32frombits(uint32(g.v))
				case g.num == 3 && g.wire == 0:
					p.Type = PieceType(g.v)
				}
			}
			m.Pieces = append(m.Pieces, p)
		case f.num == 2 && f.wire == 2:
			fs, err := protoFields(f.b)
			if err != nil {
				return nil, formatErr("tokenizer.model trainer_spec: %v", err)
			}
			for _, g := range fs {
				if g.wire != 0 {
					continue
				}
				switch g.num {
				case 3:
					m.ModelType = int(g.v)
				case 35:
					m.ByteFallback = g.v != 0
				case 40:
					m.UnkID = int(int32(g.v))
				case 41:
					m.BOSID = int(int32(g.v))
				case 42:
					m.EOSID = int(int32(g.v))
				case 43:
					m.PADID = int(int32(g.v))
				}
			}
		case f.num == 3 && f.wire == 2:
			fs, err := protoFields(f.b)
			if err != nil {
				return nil, formatErr("tokenizer.model normalizer_spec: %v", err)
			}
			for _, g := range fs {
				switch {
				case g.num == 1 && g.wire == 2:
					m.NormalizerName = string(g.b)
				case g.num == 3 && g.wire == 0:
					m.AddDummyPrefix = g.v != 0
				case g.num == 4 && g.wire == 0:
					m.RemoveExtraWhitespaces = g.v != 0
				case g.num == 5 && g.wire == 0:
					m.EscapeWhitespaces = g.v != 0
				}
			}
		}
	}
	if len(m.Pieces) == 0 {
		return nil, formatErr("tokenizer.model: no pieces")
	}
	ids := make(map[string]int, len(m.Pieces))
	for i, p := range m.Pieces {
		if j, dup := ids[p.Text]; dup {
			return nil, fmt.Errorf("%w: tokenizer.model: piece %d %q: %w", ErrFormat, i, p.Text,
				&tokfile.IDError{Where: "pieces", Token: p.Text, ID: fmt.Sprint(i), Problem: tokfile.IDTwice, Other: fmt.Sprintf("piece %d is the same", j)})
		}
		ids[p.Text] = i
	}
	if err := tokfile.CheckBounds(ids, nil); err != nil {
		return nil, fmt.Errorf("%w: tokenizer.model: %w", ErrFormat, err)
	}
	return m, nil
}

// spModel is SentencePiece's BPE: merge the adjacent pair whose
// concatenation is a piece with the highest score, leftmost first.
type spModel struct {
	pieces   []Piece
	ids      map[string]int // NORMAL, USER_DEFINED and UNUSED pieces
	reserved map[string]int // CONTROL, UNKNOWN and BYTE pieces
	unk      int
	byteIDs  [256]int
	fallback bool
	special  SpecialTokens
	user     *trie // USER_DEFINED pieces, matched whole before merging; nil if none
}

func newSPModel(sp *SentencePieceModel) (*spModel, error) {
	m := &spModel{pieces: sp.Pieces, ids: map[string]int{}, reserved: map[string]int{}, unk: sp.UnkID, fallback: sp.ByteFallback}
	for i, p := range sp.Pieces {
		switch p.Type {
		case PieceNormal, PieceUserDefined, PieceUnused:
			m.ids[p.Text] = i
		default:
			m.reserved[p.Text] = i
		}
	}
	if m.unk < 0 || m.unk >= len(sp.Pieces) {
		return nil, formatErr("tokenizer.model: unk id %d out of range", m.unk)
	}
	for i, p := range sp.Pieces {
		if p.Type == PieceUserDefined && p.Text != "" {
			if m.user == nil {
				m.user = newTrie()
			}
			m.user.add(p.Text, i)
		}
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
		if id, ok := m.reserved[fmt.Sprintf("<0x%02X>", b)]; ok {
			m.byteIDs[b] = id
		}
	}
	role := func(id int) Role {
		if id < 0 || id >= len(sp.Pieces) {
			return Role{ID: id}
		}
		return Role{Token: sp.Pieces[id].Text, ID: id, Found: true}
	}
	m.special = SpecialTokens{BOS: role(sp.BOSID), EOS: role(sp.EOSID), PAD: role(sp.PADID), UNK: role(sp.UnkID)}
	return m, nil
}

func (m *spModel) pieceID(s string) int {
	if id, ok := m.reserved[s]; ok {
		return id
	}
	if id, ok := m.ids[s]; ok {
		return id
	}
	return m.unk
}

func (m *spModel) tokenToID(tok string) (int, bool) {
	if id, ok := m.reserved[tok]; ok {
		return id, true
	}
	id, ok := m.ids[tok]
	return id, ok
}

func (m *spModel) idToToken(id int) (string, bool) {
	if id < 0 || id >= len(m.pieces) {
		return "", false
	}
	return m.pieces[id].Text, true
}

func (m *spModel) size() int { return len(m.pieces) }

type spSymbol struct {
	lo, hi     int // byte span in the text
	prev, next int
	freeze     bool // a user-defined piece: never merged
}

type spPair struct {
	score       float32
	left, right int
	size        int
}

func (a spPair) better(b spPair) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// spScratch is the per-call working memory of spModel.tokenize, pooled.
type spScratch struct {
	syms     []spSymbol
	agenda   []spPair
	revMerge map[string][2]string
}

var spScratchPool = sync.Pool{New: func() any { return new(spScratch) }}

func (m *spModel) tokenize(dst []int, text string) []int {
	if text == "" {
		return dst
	}
	sc := spScratchPool.Get().(*spScratch)
	defer spScratchPool.Put(sc)
	syms := sc.syms[:0]
	defer func() { sc.syms = syms[:0] }()
	clear(sc.revMerge)
	for i := 0; i < len(text); {
		_, w := at(text, i)
		freeze := false
		if m.user != nil {
			if tok, end := m.user.longest(text, i); tok >= 0 {
				w, freeze = end-i, true
			}
		}
		syms = append(syms, spSymbol{lo: i, hi: i + w, prev: len(syms) - 1, next: len(syms) + 1, freeze: freeze})
		i += w
	}
	syms[len(syms)-1].next = -1
	agenda := sc.agenda[:0]
	defer func() { sc.agenda = agenda[:0] }()
	push := func(l, r int) {
		if l < 0 || r < 0 || syms[l].freeze || syms[r].freeze {
			return
		}
		s := text[syms[l].lo:syms[r].hi]
		id, ok := m.ids[s]
		if !ok {
			return
		}
		if m.pieces[id].Type == PieceUnused {
			// Unused pieces may be merged through but not emitted:
			// remember the halves to split them again at the end.
			if sc.revMerge == nil {
				sc.revMerge = map[string][2]string{}
			}
			sc.revMerge[s] = [2]string{text[syms[l].lo:syms[l].hi], text[syms[r].lo:syms[r].hi]}
		}
		agenda = append(agenda, spPair{m.pieces[id].Score, l, r, len(s)})
		for k := len(agenda) - 1; k > 0; {
			p := (k - 1) / 2
			if !agenda[k].better(agenda[p]) {
				break
			}
			agenda[k], agenda[p] = agenda[p], agenda[k]
			k = p
		}
	}
	pop := func() spPair {
		top := agenda[0]
		last := len(agenda) - 1
		agenda[0] = agenda[last]
		agenda = agenda[:last]
		for k := 0; ; {
			l := 2*k + 1
			if l >= len(agenda) {
				break
			}
			c := l
			if r := l + 1; r < len(agenda) && agenda[r].better(agenda[l]) {
				c = r
			}
			if !agenda[c].better(agenda[k]) {
				break
			}
			agenda[k], agenda[c] = agenda[c], agenda[k]
			k = c
		}
		return top
	}
	for i := 1; i < len(syms); i++ {
		push(i-1, i)
	}
	for len(agenda) > 0 {
		top := pop()
		l, r := &syms[top.left], &syms[top.right]
		if l.hi == l.lo || r.hi == r.lo || (l.hi-l.lo)+(r.hi-r.lo) != top.size {
			continue
		}
		l.hi = r.hi
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = top.left
		}
		r.lo, r.hi = 0, 0
		push(l.prev, top.left)
		push(top.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		dst = m.resegment(dst, text[syms[i].lo:syms[i].hi], sc.revMerge)
	}
	return dst
}

// resegment emits the ids of piece s, splitting unused pieces back into
// the halves they were merged from, as sentencepiece does.
func (m *spModel) resegment(dst []int, s string, rev map[string][2]string) []int {
	id := m.pieceID(s)
	if id != m.unk && m.pieces[id].Type == PieceUnused {
		if halves, ok := rev[s]; ok {
			dst = m.resegment(dst, halves[0], rev)
			return m.resegment(dst, halves[1], rev)
		}
	}
	if id == m.unk && m.fallback {
		ok := true
		for k := 0; k < len(s); k++ {
			ok = ok && m.byteIDs[s[k]] >= 0
		}
		if ok {
			for k := 0; k < len(s); k++ {
				dst = append(dst, m.byteIDs[s[k]])
			}
			return dst
		}
	}
	return append(dst, id)
}

// spNormalizer is SentencePiece's normalization without a charsmap:
// optional NFKC (for the nmt_nfkc rules), whitespace cleanup, the dummy
// prefix and ▁ for spaces.
type spNormalizer struct {
	nfkc, removeExtra, dummyPrefix, escape bool
}

func (n spNormalizer) normalize(s string) string {
	if n.nfkc {
		s = norm.NFKC.String(s)
	}
	if n.removeExtra {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	}
	if s == "" {
		return s
	}
	if n.dummyPrefix {
		s = " " + s
	}
	if n.escape {
		s = strings.ReplaceAll(s, " ", "▁")
	}
	return s
}

// FromSentencePiece builds a tokenizer from a SentencePiece BPE
// tokenizer.model (Llama-2 style): byte fallback, the ▁ convention and BOS
// added as special token. Control and unknown pieces (<s>, </s>, <unk>)
// are special added tokens matched in the raw text, as transformers'
// tokenizers (slow and converted fast) match them, unlike sentencepiece
// itself: a chat template that writes bos_token into the prompt text
// (Llama-2, Mistral) gives the BOS id, not "<", "s", ">". Normalizer rules other than identity are
// approximated by NFKC.
func FromSentencePiece(data []byte) (*Tokenizer, error) {
	sp, err := ParseSentencePiece(data)
	if err != nil {
		return nil, err
	}
	if sp.ModelType != 2 {
		return nil, formatErr("tokenizer.model: model type %d is not BPE (2); Unigram is not supported", sp.ModelType)
	}
	m, err := newSPModel(sp)
	if err != nil {
		return nil, err
	}
	var added []AddedToken
	for i, p := range sp.Pieces {
		if p.Type == PieceControl || p.Type == PieceUnknown {
			added = append(added, AddedToken{ID: i, Content: p.Text, Special: true})
		}
	}
	t := &Tokenizer{
		modelType: "SentencePieceBPE",
		model:     m,
		sp:        sp,
		norm: spNormalizer{nfkc: sp.NormalizerName != "" && sp.NormalizerName != "identity",
			removeExtra: sp.RemoveExtraWhitespaces, dummyPrefix: sp.AddDummyPrefix, escape: sp.EscapeWhitespaces},
		dec: decSeq{replaceDec{literalMatcher{"▁"}, " "}, byteFallbackDec{}, fuseDec{}, stripDec{' ', 1, 0}},
	}
	if !sp.AddDummyPrefix {
		t.dec = decSeq{replaceDec{literalMatcher{"▁"}, " "}, byteFallbackDec{}, fuseDec{}}
	}
	if sp.BOSID >= 0 && sp.BOSID < len(sp.Pieces) {
		t.post = template{before: []int{sp.BOSID}}
	}
	t.added = newAddedVocab(added, nil)
	return t, nil
}

// addConfigTokens adds tokenizer_config.json's added_tokens_decoder to a
// tokenizer built from tokenizer.model, as transformers does when it
// loads a directory without tokenizer.json: the chat tokens a fine-tune
// added (<|im_start|>, <|im_end|>, ...) get their ids and are found in
// text. An entry for an id the tokenizer already has replaces its flags.
// Every entry is matched in the raw text, as the slow tokenizer's trie
// matches added tokens, whatever its "normalized" flag.
func (t *Tokenizer) addConfigTokens(dec map[int]AddedToken) {
	tokens := append([]AddedToken(nil), t.added.tokens...)
	for _, id := range slices.Sorted(maps.Keys(dec)) {
		a := dec[id]
		a.ID, a.Normalized = id, false
		if a.Content == "" {
			continue
		}
		if k, ok := t.added.byID[id]; ok {
			tokens[k] = a
			continue
		}
		tokens = append(tokens, a)
	}
	t.added = newAddedVocab(tokens, nil)
}
