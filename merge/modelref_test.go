package merge

import (
	"testing"
)

func TestParseModelRef(t *testing.T) {
	tests := []struct {
		in, path, rev, lora, loraRev string
		err                          string
	}{
		{in: "org/model", path: "org/model"},
		{in: "./models/local", path: "./models/local"},
		{in: "D:/Models/My Model", path: "D:/Models/My Model"},
		{in: "org/model@v1", path: "org/model", rev: "v1"},
		{in: "org/model@refs/pr/3", path: "org/model", rev: "refs/pr/3"},
		{in: "org/model+lora", path: "org/model", lora: "lora"},
		{in: "org/model@r+org/lora@s", path: "org/model", rev: "r", lora: "org/lora", loraRev: "s"},
		{in: "org/model+org/lora@s", path: "org/model", lora: "org/lora", loraRev: "s"},
		{in: "1.5", path: "1.5"},
		{in: "a+b+c", err: `model reference "a+b+c" has more than one '+'`},
		{in: "a@b@c", err: `model reference "a@b@c": more than one '@' in "a@b@c"`},
		{in: "a+b@c@d", err: `model reference "a+b@c@d": LoRA: more than one '@' in "b@c@d"`},
		{in: "", err: `model reference "": empty path in ""`},
		{in: "@x", err: `model reference "@x": empty path in "@x"`},
		{in: "a@", err: `model reference "a@": empty revision in "a@"`},
		{in: "+b", err: `model reference "+b": empty path in ""`},
		{in: "a+", err: `model reference "a+": LoRA: empty path in ""`},
		{in: "a+@r", err: `model reference "a+@r": LoRA: empty path in "@r"`},
	}
	for _, tc := range tests {
		r, err := ParseModelRef(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		lora, loraRev := "", ""
		if r.LoRA != nil {
			lora, loraRev = r.LoRA.Path, r.LoRA.Revision
		}
		if r.Path != tc.path || r.Revision != tc.rev || lora != tc.lora || loraRev != tc.loraRev || (tc.lora == "") != (r.LoRA == nil) {
			t.Errorf("%q: %+v", tc.in, r)
		}
		if r.String() != tc.in {
			t.Errorf("%q.String() = %q", tc.in, r.String())
		}
		if back, err := ParseModelRef(r.String()); err != nil || !back.Equal(r) {
			t.Errorf("%q does not round-trip: %+v, %v", tc.in, back, err)
		}
	}
}

func TestModelRefKey(t *testing.T) {
	a := ModelRef{Path: "org/m", Pos: Pos{1, 1}}
	tests := []struct {
		name  string
		b     ModelRef
		equal bool
	}{
		{"same, other position", ModelRef{Path: "org/m", Pos: Pos{9, 3}}, true},
		{"other path", ModelRef{Path: "org/n"}, false},
		{"revision", ModelRef{Path: "org/m", Revision: "main"}, false},
		{"lora", ModelRef{Path: "org/m", LoRA: &LoRARef{Path: "l"}}, false},
		{"empty lora", ModelRef{Path: "org/m", LoRA: &LoRARef{}}, false},
		{"override", ModelRef{Path: "org/m", OverrideArchitecture: "LlamaForCausalLM"}, false},
	}
	for _, tc := range tests {
		if a.Equal(tc.b) != tc.equal || (a.Key() == tc.b.Key()) != tc.equal {
			t.Errorf("%s: Equal = %v", tc.name, a.Equal(tc.b))
		}
	}
	// Dict-form paths may hold the separators of the string form; keys
	// must still tell the references apart.
	x := ModelRef{Path: "a+b"}
	y := ModelRef{Path: "a", LoRA: &LoRARef{Path: "b"}}
	if x.String() != y.String() || x.Equal(y) {
		t.Errorf("%q and %q: equal keys", x.Key(), y.Key())
	}
	l1 := ModelRef{Path: "a", LoRA: &LoRARef{Path: "b", Revision: "c"}}
	l2 := ModelRef{Path: "a", LoRA: &LoRARef{Path: "b@c"}}
	if l1.Equal(l2) {
		t.Errorf("%q and %q: equal keys", l1.Key(), l2.Key())
	}
}
