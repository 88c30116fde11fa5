package eval

import (
	"fmt"
	"sort"
	"strings"
)

// preset is a named list of built-in tasks with their few-shot counts.
type preset struct {
	about string
	tasks []presetTask
}

type presetTask struct {
	name    string
	fewshot int
}

// presets are the leaderboard columns gomerge can run. The occiglot Euro
// LLM Leaderboard's German column averages ARC, HellaSwag, MMLU and
// TruthfulQA (Okapi translations, CC BY-NC: not embedded) with Belebele,
// 5-shot, acc_norm: Belebele is the column that can be run here.
var presets = map[string]preset{
	"occiglot-de": {
		about: "the occiglot Euro LLM Leaderboard's German Belebele column: belebele_deu_Latn, 5-shot, acc_norm (its ARC, HellaSwag, MMLU and TruthfulQA translations are CC BY-NC and not embedded)",
		tasks: []presetTask{{"belebele_deu_Latn", 5}},
	},
}

// Presets returns the names of the task presets.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PresetAbout describes a preset in one line.
func PresetAbout(name string) (string, error) {
	p, ok := presets[name]
	if !ok {
		return "", fmt.Errorf("eval: no preset %q (have %s)", name, strings.Join(Presets(), ", "))
	}
	return p.about, nil
}

// Preset loads the built-in tasks of a preset with the few-shot counts
// the leaderboard uses. Scores of occiglot-de compare with today's
// lm-evaluation-harness; apply OcciglotPrompt to reproduce the prompt the
// leaderboard itself scored.
func Preset(name string) ([]*Task, error) {
	p, ok := presets[name]
	if !ok {
		return nil, fmt.Errorf("eval: no preset %q (have %s)", name, strings.Join(Presets(), ", "))
	}
	var tasks []*Task
	for _, pt := range p.tasks {
		t, err := Builtin(pt.name)
		if err != nil {
			return nil, err
		}
		t.NumFewshot = pt.fewshot
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// Attribution is the one-line credit a report or model card that quotes a
// built-in task's score should carry ("" for a task that is not built in);
// BuiltinNotice has the full text.
func Attribution(name string) string {
	t, err := Builtin(name)
	if err != nil {
		return ""
	}
	notice, _ := BuiltinNotice(name)
	first, _, _ := strings.Cut(notice, "\n\n")
	first = strings.Join(strings.Fields(first), " ")
	if head, rest, ok := strings.Cut(first, ": "); ok && strings.Contains(head, name) {
		first = rest // "mgsm_direct_de, mgsm_native_cot_de: the German set …"
	}
	return fmt.Sprintf("%s — %s Licence: %s. Credit and sources: gomerge eval --license %s.", name, strings.TrimSuffix(first, ".")+".", t.License, name)
}
