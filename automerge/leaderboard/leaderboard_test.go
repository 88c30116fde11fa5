package leaderboard

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLeaderboard(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "leaderboard.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, score := range []float64{-20, -10, -30} {
		r := &Run{Name: fmt.Sprintf("child%d", i), Method: "slerp", Config: "merge_method: slerp\n", Hash: fmt.Sprint("h", i),
			Parents: []string{"/m/a", "/m/b"}, Seed: 1 << 62}
		id, err := db.Start(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := db.Scored(ctx, id, score, []Score{{Task: "t", Metric: "m", Value: -score, Weight: -1}}, "local-0", 0.5); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := db.DoneWithModel(ctx, id, "/state/models/child1", 123, 0.2); err != nil {
				t.Fatal(err)
			}
		} else if err := db.Finish(ctx, id, StatusDone, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	r := &Run{Name: "killed", Method: "ties", Config: "x", Hash: "h9", Parents: []string{"a", "b"}}
	if _, err := db.Start(ctx, r); err != nil {
		t.Fatal(err)
	}
	if tried, _ := db.HasConfig(ctx, "h9"); !tried {
		t.Error("a running recipe is not seen as tried")
	}
	db.Close()

	// Reopening migrates nothing and finds the killed run.
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	interrupted, err := db.MarkInterrupted(ctx)
	if err != nil || len(interrupted) != 1 || interrupted[0].Name != "killed" {
		t.Fatalf("interrupted %v, %v", interrupted, err)
	}
	if tried, _ := db.HasConfig(ctx, "h9"); tried {
		t.Error("an interrupted recipe is not tried again")
	}
	runs, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[0].Name != "child1" || runs[1].Name != "child0" || runs[3].Status != StatusInterrupted {
		t.Fatalf("ranking %v", runs)
	}
	if runs[0].Model == nil || !runs[0].Model.Weights || runs[0].Model.Bytes != 123 || runs[0].Seed != 1<<62 ||
		len(runs[0].Scores) != 1 || runs[0].Scores[0].Value != 10 || runs[0].Parents[1] != "/m/b" {
		t.Errorf("run %+v", runs[0])
	}
	if err := db.Pruned(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if kept, _ := db.Kept(ctx); len(kept) != 0 {
		t.Errorf("kept %v after pruning", kept)
	}
	if ok, err := db.IntegrityCheck(ctx); ok != "ok" || err != nil {
		t.Errorf("integrity %q %v", ok, err)
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if n, err := ro.Count(ctx); n != 4 || err != nil {
		t.Errorf("read-only count %d, %v", n, err)
	}

	var table bytes.Buffer
	if err := WriteTable(&table, runs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "1 ") || !strings.Contains(lines[1], "child1") || !strings.Contains(lines[4], "interrupted") {
		t.Errorf("table:\n%s", table.String())
	}
	img, err := PNG(runs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Error(err)
	}
}

// TestNewerSchema: a database written by a newer gomerge is refused, not
// migrated backwards or misread.
func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "leaderboard.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("Open: %v", err)
	}
	if _, err := OpenReadOnly(ctx, path); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("OpenReadOnly: %v", err)
	}
	if _, err := OpenReadOnly(ctx, filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Error("OpenReadOnly of a missing database succeeded")
	}
}

func TestPlotEmpty(t *testing.T) {
	if _, err := PNG(nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, "empty", nil); err != nil || !strings.Contains(b.String(), "0 runs") {
		t.Errorf("%v", err)
	}
}

func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "leaderboard-example-")
	defer os.RemoveAll(dir)
	db, err := Open(ctx, filepath.Join(dir, "leaderboard.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	r := &Run{Name: "MeliodasPercival-7B", Method: "slerp", Config: "merge_method: slerp\n", Hash: "…",
		Parents: []string{"mlabonne/Meliodas-7B", "automerger/Percival_01-7B"}}
	id, _ := db.Start(ctx, r)
	db.Scored(ctx, id, 0.71, []Score{{Task: "arc_de", Metric: "acc,none", Value: 0.71, Weight: 1}}, "local-0", 12)
	db.Finish(ctx, id, StatusDone, "", 0)
	runs, _ := db.Runs(ctx)
	fmt.Println(runs[0].Name, runs[0].Status, *runs[0].Score)
	// Output: MeliodasPercival-7B done 0.71
}

// TestMigrate opens a database at schema version 1 (as the first gomerge
// automerge wrote it) and migrates it, keeping its rows.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "leaderboard.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], "PRAGMA user_version = 1",
		`INSERT INTO runs (id, name, status, method, config, config_hash, parents, seed, started_at) VALUES (1, 'old', 'done', 'slerp', 'x', 'h', '["a","b"]', 0, '2026-12-01T00:00:00Z')`,
		`INSERT INTO models (run_id, path, weights, bytes, written_at) VALUES (1, '/m/old', 1, 5, '2026-12-01T00:00:00Z')`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	// A reader reads version 1 as it is and migrates nothing.
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := ro.Runs(ctx); err != nil || len(runs) != 1 || runs[0].Model.Path != "/m/old" {
		t.Fatalf("read-only on version 1: %+v, %v", runs, err)
	}
	ro.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	db.db.QueryRow("PRAGMA user_version").Scan(&v)
	if v != SchemaVersion || SchemaVersion < 2 {
		t.Fatalf("user_version %d, want %d", v, SchemaVersion)
	}
	if err := db.SetPushed(ctx, 1, "automerger/old"); err != nil {
		t.Fatal(err)
	}
	runs, err := db.Runs(ctx)
	if err != nil || len(runs) != 1 || runs[0].Model.Path != "/m/old" || runs[0].Model.Pushed != "automerger/old" {
		t.Errorf("runs %+v, %v", runs, err)
	}
}

func TestShortRef(t *testing.T) {
	child := map[string]*Run{"/s/models/FtB": {Name: "FtB"}}
	for _, tc := range []struct{ ref, want string }{
		{"/pool/ftA", "ftA"},
		{"org/model", "org/model"},
		{"/s/models/FtB", "FtB"},
		{"/pool/stories+/pool/loraQ", "stories+loraQ"},
		{"org/base+org/lora", "org/base+org/lora"},
		{"/pool/stories+org/lora", "stories+org/lora"},
	} {
		if got := shortRef(tc.ref, child); got != tc.want {
			t.Errorf("shortRef(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestTaskSet(t *testing.T) {
	three := 3
	a := Score{Task: "belebele_deu", Metric: "acc", Weight: 1}
	b := Score{Task: "arc_de", Metric: "acc_norm", Weight: 0.5}
	for _, tc := range []struct {
		tasks   []Score
		limit   int
		fewshot *int
		want    string
	}{
		{[]Score{a, b}, 0, nil, "arc_de/acc_norm×0.5, belebele_deu/acc×1"},
		{[]Score{b, a}, 0, nil, "arc_de/acc_norm×0.5, belebele_deu/acc×1"},
		{[]Score{{Task: "p", Metric: "word_perplexity,none", Weight: -1e-7, Value: 9}}, 200, &three, "p/word_perplexity,none×-1e-07; limit 200; fewshot 3"},
		{nil, 0, nil, ""},
	} {
		if got := TaskSet(tc.tasks, tc.limit, tc.fewshot); got != tc.want {
			t.Errorf("TaskSet(%v, %d, %v) = %q, want %q", tc.tasks, tc.limit, tc.fewshot, got, tc.want)
		}
	}
}

// TestTaskSetsRanked records runs on two task sets and one from before
// task sets were recorded: each set is ranked on its own, the old run
// with the set its scores name, and ConfigTaskSets tells them apart.
func TestTaskSetsRanked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "leaderboard.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], migrations[1], "PRAGMA user_version = 2",
		`INSERT INTO runs (id, name, status, method, config, config_hash, parents, seed, started_at, score) VALUES (1, 'old', 'done', 'slerp', 'x', 'h1', '["a","b"]', 0, '2026-12-01T00:00:00Z', 0.5)`,
		`INSERT INTO scores (run_id, task, metric, value, weight) VALUES (1, 't', 'acc', 0.5, 1)`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	setA := TaskSet([]Score{{Task: "t", Metric: "acc", Weight: 1}}, 0, nil)
	setB := TaskSet([]Score{{Task: "t", Metric: "acc", Weight: 1}}, 50, nil)
	for i, r := range []struct {
		hash, tasks string
		score       float64
	}{{"h1", setB, 0.9}, {"h2", setA, 0.7}, {"h3", setB, 0.6}, {"h4", setA, 0.2}} {
		run := Run{Name: fmt.Sprint("r", i), Method: "slerp", Config: "x", Hash: r.hash, Parents: []string{"a", "b"}, Tasks: r.tasks}
		id, err := db.Start(ctx, &run)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Scored(ctx, id, r.score, []Score{{Task: "t", Metric: "acc", Value: r.score, Weight: 1}}, "w", 1); err != nil {
			t.Fatal(err)
		}
		if err := db.Finish(ctx, id, StatusDone, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if runs[len(runs)-1].Name != "r3" || runs[0].Tasks != setB {
		t.Fatalf("order %v", runs)
	}
	for _, r := range runs {
		if r.Name == "old" && (r.Tasks != "" || r.TaskKey() != setA) {
			t.Errorf("old run: tasks %q, key %q, want key %q", r.Tasks, r.TaskKey(), setA)
		}
	}
	rank, sets := ranks(runs)
	// Order: r0 0.9 (B), r1 0.7 (A), r2 0.6 (B), old 0.5 (A), r3 0.2 (A).
	if want := []int{1, 1, 2, 2, 3}; !slices.Equal(rank, want) || !slices.Equal(sets, []string{setB, setA}) {
		t.Errorf("ranks %v sets %q, want %v [%q %q]", rank, sets, want, setB, setA)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, runs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(buf.String(), "\n"); !strings.HasSuffix(strings.TrimSpace(lines[0]), "TASKS") ||
		!strings.HasSuffix(strings.TrimSpace(lines[1]), "limit 50") || !strings.HasPrefix(lines[4], "2 ") {
		t.Errorf("table:\n%s", buf.String())
	}
	if sets, err := db.ConfigTaskSets(ctx, "h1"); err != nil || !slices.Equal(slices.Sorted(slices.Values(sets)), []string{"", setB}) {
		t.Errorf("ConfigTaskSets(h1) = %q, %v", sets, err)
	}
	if sets, err := db.ConfigTaskSets(ctx, "h9"); err != nil || len(sets) != 0 {
		t.Errorf("ConfigTaskSets(h9) = %q, %v", sets, err)
	}
}

// TestPlotTaskSets: runs scored on an older task set (here on a much
// higher scale) are not drawn beside the latest set's, whose scores they
// do not compare with, and the title says so.
func TestPlotTaskSets(t *testing.T) {
	score := func(v float64) *float64 { return &v }
	setA := TaskSet([]Score{{Task: "t", Metric: "acc", Weight: 1}}, 0, nil)
	setB := TaskSet([]Score{{Task: "t", Metric: "acc", Weight: 1}}, 50, nil)
	runs := []Run{
		{ID: 1, Method: "slerp", Status: StatusDone, Score: score(90), Tasks: setA},
		{ID: 2, Method: "ties", Status: StatusDone, Score: score(80), Tasks: setA},
		{ID: 3, Method: "slerp", Status: StatusDone, Score: score(0.6), Tasks: setB},
		{ID: 4, Method: "ties", Status: StatusDone, Score: score(0.7), Tasks: setB},
		{ID: 5, Method: "ties", Status: StatusFailed, Tasks: setA},
	}
	p, err := Plot(runs)
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Max > 1 || !strings.Contains(p.Title.Text, "2 runs scored on other tasks not drawn") {
		t.Errorf("y up to %g, title %q: the older task set is drawn", p.Y.Max, p.Title.Text)
	}
	p, err = Plot(runs[2:])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Title.Text, "not drawn") {
		t.Errorf("one task set, title %q", p.Title.Text)
	}
}
