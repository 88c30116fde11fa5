package automerge

import (
	"strings"
	"testing"

	"github.com/gomerge/gomerge/automerge/leaderboard"
)

// TestCardCreditsBuiltinTasks checks that a card quoting a built-in task's
// score carries its licence and credit once, and none for a task file.
func TestCardCreditsBuiltinTasks(t *testing.T) {
	run := &leaderboard.Run{
		Name: "Child-7B", Method: "ties", Config: "merge_method: ties\n", Parents: []string{"/m/a", "/m/b"},
		Scores: []leaderboard.Score{
			{Task: "belebele_deu_Latn", Metric: "acc_norm,none", Value: 0.4, Weight: 1},
			{Task: "belebele_deu_Latn", Metric: "acc,none", Value: 0.38, Weight: 0},
			{Task: "my_own_task", Metric: "acc,none", Value: 0.5, Weight: 1},
		},
	}
	card := Card("Child-7B", "", run, nil)
	if n := strings.Count(card, "gomerge eval --license belebele_deu_Latn"); n != 1 {
		t.Errorf("belebele credit appears %d times, want 1:\n%s", n, card)
	}
	if !strings.Contains(card, "CC BY-SA 4.0") && !strings.Contains(card, "Licence: CC") {
		t.Errorf("no licence named in the credit:\n%s", card)
	}
	if strings.Contains(card, "--license my_own_task") {
		t.Errorf("a task file got a built-in credit:\n%s", card)
	}
}
