package merge

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
)

// methodConfigs is a config for every method over models base, ft and ft2.
var methodConfigs = map[string]string{
	"passthrough":  "models: [{model: ft}]\n",
	"slerp":        "base_model: base\nparameters: {t: 0.3}\nmodels: [{model: base}, {model: ft}]\n",
	"nearswap":     "base_model: base\nparameters: {t: 0.001}\nmodels: [{model: ft}]\n",
	"arcee_fusion": "base_model: base\nmodels: [{model: base}, {model: ft}]\n",
	"nuslerp":      "parameters: {weight: 0.5}\nmodels: [{model: ft}, {model: ft2}]\n",
	"karcher":      "models: [{model: base}, {model: ft}, {model: ft2}]\n",
	"della":        "base_model: base\nparameters: {weight: 0.5, density: 0.5, epsilon: 0.1}\nmodels: [{model: ft}, {model: ft2}]\n",
	"della_linear": "base_model: base\nparameters: {weight: 0.5, density: 0.5, epsilon: 0.1}\nmodels: [{model: ft}, {model: ft2}]\n",
}

const defaultMethodConfig = "base_model: base\nparameters: {weight: 0.5, density: 0.5, t: 0.5}\nmodels: [{model: ft}, {model: ft2}]\n"

// TestArchitectures merges models of every registered architecture with
// every merge method and checks that the output holds exactly the input's
// tensors.
func TestArchitectures(t *testing.T) {
	types := map[string]string{
		"LlamaForCausalLM": "llama", "LLaMaForCausalLM": "llama", "MistralForCausalLM": "mistral",
		"Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "GemmaForCausalLM": "gemma",
		"Gemma2ForCausalLM": "gemma2", "Phi3ForCausalLM": "phi3",
		"MixtralForCausalLM": "mixtral", "Qwen3MoeForCausalLM": "qwen3_moe", "QWenLMHeadModel": "qwen",
		"Gemma3ForCausalLM": "gemma3_text", "PhiForCausalLM": "phi", "GPT2LMHeadModel": "gpt2",
		"GPTNeoXForCausalLM": "gpt_neox", "FalconForCausalLM": "falcon",
		"StableLmForCausalLM": "stablelm", "StableLMEpochForCausalLM": "stablelm_epoch",
		"Starcoder2ForCausalLM": "starcoder2", "CohereForCausalLM": "cohere", "Cohere2ForCausalLM": "cohere2",
		"Olmo2ForCausalLM": "olmo2", "GraniteForCausalLM": "granite", "InternLM2ForCausalLM": "internlm2",
		"BaichuanForCausalLM": "baichuan", "BaiChuanForCausalLM": "baichuan", "ExaoneForCausalLM": "exaone",
		"SolarForCausalLM": "solar",
	}
	for _, name := range arch.Names() {
		mt, ok := types[name]
		if !ok {
			t.Errorf("no model_type for %s in this test", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for i, m := range []string{"base", "ft", "ft2"} {
				s := testmodel.Spec{Arch: name, ModelType: mt, Layers: 2, Seed: 1, Delta: 0.01 * float64(i), DeltaSeed: 9}
				if err := testmodel.Write(filepath.Join(dir, m), s); err != nil {
					t.Fatal(err)
				}
			}
			in, err := safetensors.OpenModel(filepath.Join(dir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			for _, method := range MethodNames() {
				out := filepath.Join(t.TempDir(), "out")
				body, ok := methodConfigs[method]
				if !ok {
					body = defaultMethodConfig
				}
				if _, err := runYAML(t, dir, "merge_method: "+method+"\n"+body, out, Options{}); err != nil {
					t.Fatalf("%s: %v", method, err)
				}
				got, err := safetensors.OpenModel(out)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Names(), in.Names()) {
					t.Errorf("%s: output tensors %v\nwant %v", method, got.Names(), in.Names())
				}
				got.Close()
			}
		})
	}
}
