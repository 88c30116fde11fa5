package automerge

import (
	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/worker"
)

// TaskSet names what a run is scored on, as the leaderboard records it
// (leaderboard.Run.Tasks; see leaderboard.TaskSet). Scores of runs with
// different task sets do not compare: a session ranks, keeps and prunes
// only the runs of its own.
func TaskSet(tasks []worker.Task, limit int, numFewshot *int) string {
	specs := make([]leaderboard.Score, len(tasks))
	for i, t := range tasks {
		specs[i] = leaderboard.Score{Task: t.Name, Metric: t.Metric, Weight: t.Weight}
	}
	return leaderboard.TaskSet(specs, limit, numFewshot)
}

// bf16DotKey marks the task set of sessions scoring with bfloat16 products
// (Options.BF16Dot).
const bf16DotKey = "; bf16 products"

// scoringKey is the session's task set: TaskSet's, marked when the
// workers score with bfloat16 products.
func scoringKey(tasks string, bf16Dot bool) string {
	if bf16Dot {
		return tasks + bf16DotKey
	}
	return tasks
}

// sameTasks reports whether run r was scored on the session's task set.
func (s *session) sameTasks(r leaderboard.Run) bool { return r.TaskKey() == s.tasks }

// ours keeps the runs scored on the session's task set.
func (s *session) ours(runs []leaderboard.Run) []leaderboard.Run {
	out := runs[:0:0]
	for _, r := range runs {
		if s.sameTasks(r) {
			out = append(out, r)
		}
	}
	return out
}
