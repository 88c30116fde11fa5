package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

func TestMatchers(t *testing.T) {
	tests := []struct {
		name string
		m    matcher
		in   string
		want []string
	}{
		{"gpt2", gpt2Matcher{}, "Hello world's  end", []string{"Hello", " world", "'s", " ", " end"}},
		{"gpt2", gpt2Matcher{}, "a  \n b  ", []string{"a", "  \n", " b", "  "}},
		{"gpt2", gpt2Matcher{}, "x 123 !!", []string{"x", " 123", " !!"}},
		{"gpt2 case", gpt2Matcher{}, "I'M", []string{"I", "'", "M"}},
		{"llama3", llama3Matcher{3}, "I'M 12345 Straße!\n\n  x", []string{"I", "'M", " ", "123", "45", " Straße", "!\n\n", " ", " x"}},
		{"llama3", llama3Matcher{3}, "a \r\n\r\n b", []string{"a", " \r\n\r\n", " b"}},
		{"llama3 fold", llama3Matcher{3}, "it'ſ", []string{"it", "'ſ"}},
		{"llama3 prefix", llama3Matcher{3}, "\tTab (x)", []string{"\tTab", " (", "x", ")"}},
		{"qwen2", llama3Matcher{1}, "2024", []string{"2", "0", "2", "4"}},
		{"whitespace", whitespaceMatcher{}, "Hallo, Welt!", []string{"Hallo", ",", "Welt", "!"}},
		{"literal", literalMatcher{"ab"}, "xabab", []string{"ab", "ab"}},
	}
	for _, tc := range tests {
		var got []string
		for _, sp := range tc.m.findAll(nil, tc.in) {
			got = append(got, tc.in[sp[0]:sp[1]])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: got %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestSplitBehaviors(t *testing.T) {
	m := literalMatcher{"-"}
	tests := []struct {
		b      splitBehavior
		invert bool
		want   []string
	}{
		{splitRemoved, false, []string{"a", "b", "c"}},
		{splitIsolated, false, []string{"a", "-", "b", "-", "-", "c"}},
		{splitMergedWithPrevious, false, []string{"a-", "b-", "-", "c"}},
		{splitMergedWithNext, false, []string{"a", "-b", "-", "-c"}},
		{splitContiguous, false, []string{"a", "-", "b", "--", "c"}},
		{splitRemoved, true, []string{"-", "-", "-"}},
	}
	for _, tc := range tests {
		if got := splitSpans(nil, "a-b--c", m, tc.b, tc.invert); !slices.Equal(got, tc.want) {
			t.Errorf("behavior %d invert %v: got %q, want %q", tc.b, tc.invert, got, tc.want)
		}
	}
}

func TestDecoders(t *testing.T) {
	tests := []struct {
		name string
		d    decoder
		in   []string
		want string
	}{
		{"bytelevel", byteLevelDec{}, []string{"Gr", "Ã¼", "Ã", "Ł", "e", "Ã"}, "Grüße\uFFFD"},
		{"bytefallback", decSeq{byteFallbackDec{}, fuseDec{}}, []string{"a", "<0xC3>", "<0xBC>", "b", "<0xC3>", "<0xBC>", "<0xFF>"}, "aüb\uFFFD\uFFFD\uFFFD"},
		{"bytefallback bad", decSeq{byteFallbackDec{}, fuseDec{}}, []string{"<0xC3>", "<0x41>"}, "\uFFFD\uFFFD"},
		{"strip", decSeq{fuseDec{}, stripDec{' ', 1, 1}}, []string{"  a", " "}, " a"},
		{"metaspace", metaspaceDec{"▁", prependAlways}, []string{"▁Hallo", "▁Welt"}, "Hallo Welt"},
		{"replace", replaceDec{literalMatcher{"▁"}, " "}, []string{"▁a▁b"}, " a b"},
	}
	for _, tc := range tests {
		got := ""
		for _, s := range tc.d.decodeChain(tc.in) {
			got += s
		}
		if got != tc.want {
			t.Errorf("%s %q: got %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestLossy(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"\xe2\x82", "\uFFFD"},       // cut-short 3-byte sequence: one U+FFFD
		{"\xe2\x82a", "\uFFFDa"},     // likewise, then ASCII
		{"\xff\xfe", "\uFFFD\uFFFD"}, // two invalid bytes
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
	}
	for _, tc := range tests {
		if got := lossy([]byte(tc.in)); got != tc.want {
			t.Errorf("lossy(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAddedTokenFlags(t *testing.T) {
	toks := []AddedToken{
		{ID: 100, Content: "<L>", LStrip: true},
		{ID: 101, Content: "<R>", RStrip: true},
		{ID: 102, Content: "w", SingleWord: true},
		{ID: 103, Content: "<R>x"}, // longer match wins
	}
	a := newAddedVocab(toks, nil)
	tests := []struct {
		in   string
		want []segment
	}{
		{"a  <L>b", []segment{{"a", -1, true}, {"", 100, false}, {"b", -1, false}}},
		{"a<R>  b", []segment{{"a", -1, true}, {"", 101, false}, {"b", -1, false}}},
		{"<R>x", []segment{{"", 103, false}}},
		{"a w b", []segment{{"a ", -1, true}, {"", 102, false}, {" b", -1, false}}},
		{"awb", []segment{{"awb", -1, true}}},
	}
	for _, tc := range tests {
		if got := a.extract(tc.in, nil); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestConfigFiles(t *testing.T) {
	tc, err := ParseTokenizerConfig([]byte(`{"bos_token": "<s>", "eos_token": {"content": "</s>", "__type": "AddedToken"}, "pad_token": null,
		"add_bos_token": true, "chat_template": [{"name": "default", "template": "T"}, {"name": "tool_use", "template": "U"}],
		"added_tokens_decoder": {"2": {"content": "</s>", "special": true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if *tc.BOS != "<s>" || *tc.EOS != "</s>" || tc.PAD != nil || !*tc.AddBOS || tc.AddEOS != nil || tc.ChatTemplate != "T" ||
		tc.ChatTemplates["tool_use"] != "U" || tc.AddedTokensDecoder[2].Content != "</s>" || !tc.AddedTokensDecoder[2].Special {
		t.Errorf("tokenizer_config: %+v", tc)
	}
	gc, err := ParseIDConfig([]byte(`{"bos_token_id": 128000, "eos_token_id": [128001, 128009]}`))
	if err != nil || *gc.BOS != 128000 || !slices.Equal(gc.EOS, []int{128001, 128009}) || gc.PAD != nil {
		t.Errorf("generation_config: %+v %v", gc, err)
	}
	mc, err := ParseIDConfig([]byte(`{"eos_token_id": 2, "vocab_size": 32000}`))
	if err != nil || !slices.Equal(mc.EOS, []int{2}) || *mc.VocabSize != 32000 {
		t.Errorf("config: %+v %v", mc, err)
	}
	sm, err := ParseSpecialTokensMap([]byte(`{"eos_token": "<|im_end|>", "additional_special_tokens": ["<|im_start|>", {"content": "<|im_end|>"}]}`))
	if err != nil || *sm.EOS != "<|im_end|>" || !slices.Equal(sm.Additional, []string{"<|im_start|>", "<|im_end|>"}) {
		t.Errorf("special_tokens_map: %+v %v", sm, err)
	}
	if _, err := ParseIDConfig([]byte(`{"eos_token_id": "x"}`)); err == nil {
		t.Error("eos_token_id \"x\": no error")
	}
}

func TestFamiliesMetadata(t *testing.T) {
	tests := []struct {
		f                  family
		typ                string
		vocab, merges      int
		bos, eos           string
		bosID, eosID, padI int
	}{
		{families[0], "BPE", 32000, 58980, "<s>", "</s>", 1, 2, -1},
		{families[1], "BPE", 151669, 151387, "", "<|im_end|>", -1, 151645, 151643},
		{families[2], "BPE", 128256, 280147, "<|begin_of_text|>", "<|end_of_text|>", 128000, 128001, -1},
		{families[3], "BPE", 128256, 280147, "<|begin_of_text|>", "<|eot_id|>", 128000, 128009, -1},
		{families[4], "BPE", 262145, 514906, "<bos>", "<end_of_turn>", 2, 106, 0},
	}
	for _, tc := range tests {
		t.Run(tc.f.name, func(t *testing.T) {
			tk := loadFamily(t, tc.f)
			sp := tk.Special()
			id := func(r Role) int {
				if !r.Found {
					return -1
				}
				return r.ID
			}
			if tk.ModelType() != tc.typ || tk.VocabSize() != tc.vocab || len(tk.Merges()) != tc.merges ||
				sp.BOS.Token != tc.bos || sp.EOS.Token != tc.eos || id(sp.BOS) != tc.bosID || id(sp.EOS) != tc.eosID || id(sp.PAD) != tc.padI {
				t.Errorf("type %s vocab %d merges %d special %+v", tk.ModelType(), tk.VocabSize(), len(tk.Merges()), sp)
			}
			wantBefore := map[string][]int{"mistral": {1}, "llama3_eot": {128000}, "gemma3": {2}}[tc.f.name]
			if before, after := tk.SpecialIDs(); !slices.Equal(before, wantBefore) || len(after) != 0 {
				t.Errorf("SpecialIDs = %v, %v; want %v, []", before, after, wantBefore)
			}
			if m := tk.AddedIDMismatches(); len(m) != 0 {
				t.Errorf("AddedIDMismatches = %v", m)
			}
			for _, a := range tk.AddedTokens() {
				if got, ok := tk.TokenToID(a.Content); !ok || got != a.ID {
					t.Errorf("TokenToID(%q) = %d, %v; want %d", a.Content, got, ok, a.ID)
				}
			}
		})
	}
}

// TestConcurrentEncode shares one tokenizer between goroutines (run with
// -race): the word cache and the scratch pools must be safe.
func TestConcurrentEncode(t *testing.T) {
	tk := loadFamily(t, families[1])
	want := tk.Encode("Grüße aus München, 2024!", true)
	done := make(chan []int)
	for g := 0; g < 4; g++ {
		go func() {
			var ids []int
			for i := 0; i < 200; i++ {
				ids = tk.Encode("Grüße aus München, 2024!", true)
				tk.Encode(strings.Repeat("x", i), false)
			}
			done <- ids
		}()
	}
	for g := 0; g < 4; g++ {
		if got := <-done; !slices.Equal(got, want) {
			t.Errorf("goroutine got %v, want %v", got, want)
		}
	}
}

func TestAddedIDMismatches(t *testing.T) {
	tk, err := FromJSON([]byte(`{"added_tokens": [
		{"id": 7, "content": "a", "special": true},
		{"id": 3, "content": "<new>", "special": true},
		{"id": 9, "content": "<new2>"}],
	  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDMismatch{{"a", 7, 0}, {"<new>", 3, 2}, {"<new2>", 9, 3}}
	if got := tk.AddedIDMismatches(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if ids := tk.Encode("a<new>b<new2>", false); !slices.Equal(ids, []int{0, 2, 1, 3}) {
		t.Errorf("encode: %v", ids)
	}
}
