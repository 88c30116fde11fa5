// Package leaderboard is gomerge automerge's record of its runs: an SQLite
// database (modernc.org/sqlite, pure Go) that the sqlite3 CLI reads as
// well. Table runs has one row per run (its config, parents, method, seed,
// timings, status and error), scores one row per task and metric of a
// scored run, models one row per child written to disk (whether its
// weights are still there). The schema is versioned with PRAGMA
// user_version and migrated forward when the database is opened.
//
// The database runs in WAL mode with a busy timeout, so a leaderboard
// reader and the automerge writer never block each other, and a process
// killed mid-transaction leaves the database as of its last commit.
package leaderboard

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver
)

// Run statuses.
const (
	// StatusRunning is a run in progress, or one whose process died: the
	// next automerge start (which holds the state directory's lock, so no
	// run can be in progress) marks it StatusInterrupted.
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// migrations are the schema versions in order; migrations[i] brings the
// database from user_version i to i+1.
var migrations = []string{
	`CREATE TABLE runs (
		id            INTEGER PRIMARY KEY,
		name          TEXT NOT NULL,
		status        TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
		method        TEXT NOT NULL,
		config        TEXT NOT NULL,
		config_hash   TEXT NOT NULL,
		parents       TEXT NOT NULL, -- JSON array of model references
		seed          INTEGER NOT NULL,
		score         REAL,
		error         TEXT,
		worker        TEXT,
		started_at    TEXT NOT NULL, -- RFC 3339, UTC
		finished_at   TEXT,
		eval_seconds  REAL,
		merge_seconds REAL,
		pid           INTEGER
	);
	CREATE INDEX runs_config_hash ON runs (config_hash);
	CREATE INDEX runs_status ON runs (status);
	CREATE TABLE scores (
		run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
		task   TEXT NOT NULL,
		metric TEXT NOT NULL,
		value  REAL NOT NULL,
		weight REAL NOT NULL,
		PRIMARY KEY (run_id, task, metric)
	);
	CREATE TABLE models (
		run_id     INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
		path       TEXT NOT NULL,
		weights    INTEGER NOT NULL, -- 1 while the weights are on disk
		bytes      INTEGER NOT NULL,
		written_at TEXT NOT NULL,
		pruned_at  TEXT
	);`,
	// 2: where a child was published (gomerge automerge --push ORG).
	`ALTER TABLE models ADD COLUMN pushed TEXT; -- hub repository id`,
	// 3: the task set a run was scored on (Run.Tasks); NULL for runs
	// recorded before.
	`ALTER TABLE runs ADD COLUMN tasks TEXT;`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// ErrNewerSchema is matched (errors.Is) when the database was written by a
// newer gomerge whose schema this one does not know.
var ErrNewerSchema = errors.New("leaderboard: database schema is newer than this gomerge")

// DB is an open leaderboard.
type DB struct {
	db   *sql.DB
	path string
	// version is the schema version of the file: SchemaVersion once
	// migrated, possibly older when opened read-only.
	version int
}

// Open opens (creating it if needed) the leaderboard at path and migrates
// its schema to SchemaVersion.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	l := &DB{db: db, path: path, version: SchemaVersion}
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// OpenReadOnly opens an existing leaderboard for reading only; it fails
// when there is none. A database of an older schema version is read as
// it is, without migrating it.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if v == 0 {
		db.Close()
		return nil, fmt.Errorf("open %s: not a leaderboard (no schema)", path)
	}
	if v > SchemaVersion {
		db.Close()
		return nil, fmt.Errorf("%s: version %d: %w", path, v, ErrNewerSchema)
	}
	// An older schema is read as it is: a reader never migrates.
	return &DB{db: db, path: path, version: v}, nil
}

// Close closes the database.
func (l *DB) Close() error { return l.db.Close() }

// Path is the database file.
func (l *DB) Path() string { return l.path }

func (l *DB) migrate(ctx context.Context) error {
	var v int
	if err := l.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("version %d: %w", v, ErrNewerSchema)
	}
	for ; v < SchemaVersion; v++ {
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
		// PRAGMA takes no parameters; v+1 is an integer of ours.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns its verdict
// ("ok" for a sound database).
func (l *DB) IntegrityCheck(ctx context.Context) (string, error) {
	var s string
	err := l.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s)
	return s, err
}

// Run is one row of runs, with its scores and model.
type Run struct {
	ID      int64    `json:"id"`
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Method  string   `json:"method"`
	Config  string   `json:"config"`
	Hash    string   `json:"config_hash"`
	Parents []string `json:"parents"`
	Seed    uint64   `json:"seed"`
	// Tasks names the task set the run is scored on (tasks, metrics,
	// weights, document limit, few-shot count; automerge's TaskSet):
	// scores of runs with different task sets do not compare. Empty for
	// runs recorded before schema version 3.
	Tasks string `json:"tasks,omitempty"`
	// Score is the weighted score (higher is better); nil unless scored.
	Score        *float64  `json:"score,omitempty"`
	Error        string    `json:"error,omitempty"`
	Worker       string    `json:"worker,omitempty"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished,omitzero"`
	EvalSeconds  float64   `json:"eval_seconds,omitempty"`
	MergeSeconds float64   `json:"merge_seconds,omitempty"`
	Scores       []Score   `json:"scores,omitempty"`
	// Model is the child's directory, when one was written.
	Model *Model `json:"model,omitempty"`
}

// TaskSet formats a task set as Run.Tasks records it: the tasks with their
// metrics and weights (each Score's Value is ignored) in a fixed order,
// then the document limit and the few-shot count when set, for example
// "arc_de/acc×0.5, belebele_deu/acc×1; limit 200".
func TaskSet(tasks []Score, limit int, numFewshot *int) string {
	sorted := slices.SortedFunc(slices.Values(tasks), func(a, b Score) int {
		return cmp.Or(strings.Compare(a.Task, b.Task), strings.Compare(a.Metric, b.Metric), cmp.Compare(a.Weight, b.Weight))
	})
	parts := make([]string, len(sorted))
	for i, t := range sorted {
		parts[i] = t.Task + "/" + t.Metric + "×" + strconv.FormatFloat(t.Weight, 'g', -1, 64)
	}
	s := strings.Join(parts, ", ")
	if limit > 0 {
		s += "; limit " + strconv.Itoa(limit)
	}
	if numFewshot != nil {
		s += "; fewshot " + strconv.Itoa(*numFewshot)
	}
	return s
}

// TaskKey is the task set the run's score belongs to: Tasks, or for a run
// recorded before task sets were (schema version 3) the TaskSet of its
// scores' tasks, metrics and weights (its document limit and few-shot
// count are not known). Runs rank against each other only with equal
// keys.
func (r Run) TaskKey() string {
	if r.Tasks != "" || len(r.Scores) == 0 {
		return r.Tasks
	}
	return TaskSet(r.Scores, 0, nil)
}

// Score is one task metric of a run.
type Score struct {
	Task   string  `json:"task"`
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
}

// Model is a child written to disk.
type Model struct {
	Path string `json:"path"`
	// Weights is true while the weights are on disk; a child pruned by
	// --keep keeps its card and config.
	Weights bool      `json:"weights"`
	Bytes   int64     `json:"bytes"`
	Written time.Time `json:"written"`
	Pruned  time.Time `json:"pruned,omitzero"`
	// Pushed is the hub repository the child was uploaded to, if any.
	Pushed string `json:"pushed,omitempty"`
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// Start records a run in progress and returns its id.
func (l *DB) Start(ctx context.Context, r *Run) (int64, error) {
	parents, err := json.Marshal(r.Parents)
	if err != nil {
		return 0, err
	}
	if r.Started.IsZero() {
		r.Started = time.Now().UTC()
	}
	res, err := l.db.ExecContext(ctx, `INSERT INTO runs (name, status, method, config, config_hash, parents, seed, started_at, pid, tasks)
		VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''))`, r.Name, r.Method, r.Config, r.Hash, string(parents), int64(r.Seed),
		r.Started.UTC().Format(time.RFC3339Nano), pid(), r.Tasks)
	if err != nil {
		return 0, fmt.Errorf("record run %s: %w", r.Name, err)
	}
	r.ID, err = res.LastInsertId()
	r.Status = StatusRunning
	return r.ID, err
}

// Scored records a run's scores and score, in one transaction.
func (l *DB) Scored(ctx context.Context, id int64, score float64, scores []Score, worker string, evalSeconds float64) error {
	return l.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range scores {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO scores (run_id, task, metric, value, weight) VALUES (?, ?, ?, ?, ?)`,
				id, s.Task, s.Metric, s.Value, s.Weight); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET score = ?, worker = ?, eval_seconds = ? WHERE id = ?`, score, worker, evalSeconds, id)
		return err
	})
}

// Finish sets a run's final status (done or failed), its error and merge
// time.
func (l *DB) Finish(ctx context.Context, id int64, status, errText string, mergeSeconds float64) error {
	_, err := l.db.ExecContext(ctx, `UPDATE runs SET status = ?, error = NULLIF(?, ''), merge_seconds = ?, finished_at = ? WHERE id = ?`,
		status, errText, mergeSeconds, now(), id)
	if err != nil {
		return fmt.Errorf("record run %d %s: %w", id, status, err)
	}
	return nil
}

// MarkInterrupted marks every run still "running" as interrupted and
// returns them. Only the holder of the state directory's lock calls it,
// so those runs' processes are gone.
func (l *DB) MarkInterrupted(ctx context.Context) ([]Run, error) {
	runs, err := l.query(ctx, "WHERE r.status = 'running'")
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, nil
	}
	_, err = l.db.ExecContext(ctx, `UPDATE runs SET status = 'interrupted', finished_at = ?,
		error = 'the process stopped before the run finished (killed, crashed or powered off)' WHERE status = 'running'`, now())
	return runs, err
}

// DoneWithModel records a run done whose child was written to dir, in one
// transaction: a child on disk belongs to a done run, or to none.
func (l *DB) DoneWithModel(ctx context.Context, id int64, dir string, bytes int64, mergeSeconds float64) error {
	return l.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO models (run_id, path, weights, bytes, written_at) VALUES (?, ?, 1, ?, ?)`,
			id, dir, bytes, now()); err != nil {
			return fmt.Errorf("record model %s: %w", dir, err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'done', error = NULL, merge_seconds = ?, finished_at = ? WHERE id = ?`,
			mergeSeconds, now(), id)
		return err
	})
}

// Pruned records that a child's weights were deleted.
func (l *DB) Pruned(ctx context.Context, id int64) error {
	_, err := l.db.ExecContext(ctx, `UPDATE models SET weights = 0, pruned_at = ? WHERE run_id = ?`, now(), id)
	return err
}

// SetPushed records the hub repository a child was uploaded to.
func (l *DB) SetPushed(ctx context.Context, id int64, repo string) error {
	_, err := l.db.ExecContext(ctx, `UPDATE models SET pushed = ? WHERE run_id = ?`, repo, id)
	return err
}

// HasConfig reports whether a run with this config hash was done or
// failed (an interrupted run may be tried again), on any task set.
func (l *DB) HasConfig(ctx context.Context, hash string) (bool, error) {
	sets, err := l.ConfigTaskSets(ctx, hash)
	return len(sets) > 0, err
}

// ConfigTaskSets returns the task sets (Run.Tasks, "" for runs recorded
// before they were) on which a run with this config hash was done, failed
// or is running, without repeats.
func (l *DB) ConfigTaskSets(ctx context.Context, hash string) ([]string, error) {
	tasks := "coalesce(tasks, '')"
	if l.version < 3 {
		tasks = "''"
	}
	rows, err := l.db.QueryContext(ctx, `SELECT DISTINCT `+tasks+` FROM runs WHERE config_hash = ? AND status IN ('done', 'failed', 'running')`, hash)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	defer rows.Close()
	var sets []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
		sets = append(sets, t)
	}
	return sets, rows.Err()
}

// Runs returns every run: the done ones best score first, then the
// others (failed, interrupted, running) in the same order, those without
// a score last.
func (l *DB) Runs(ctx context.Context) ([]Run, error) {
	return l.query(ctx, "ORDER BY r.status != 'done', r.score IS NULL, r.score DESC, r.id")
}

// Kept returns the done runs whose weights are on disk, best first.
func (l *DB) Kept(ctx context.Context) ([]Run, error) {
	return l.query(ctx, "WHERE r.status = 'done' AND m.weights = 1 ORDER BY r.score DESC, r.id")
}

// Count returns the number of runs.
func (l *DB) Count(ctx context.Context) (int, error) {
	var n int
	err := l.db.QueryRowContext(ctx, "SELECT count(*) FROM runs").Scan(&n)
	return n, err
}

func (l *DB) query(ctx context.Context, tail string) ([]Run, error) {
	pushed, tasks := "coalesce(m.pushed, '')", "coalesce(r.tasks, '')"
	if l.version < 2 {
		pushed = "''"
	}
	if l.version < 3 {
		tasks = "''" // a file opened read-only, not migrated
	}
	rows, err := l.db.QueryContext(ctx, `SELECT r.id, r.name, r.status, r.method, r.config, r.config_hash, r.parents, r.seed,
		r.score, coalesce(r.error, ''), coalesce(r.worker, ''), r.started_at, coalesce(r.finished_at, ''),
		coalesce(r.eval_seconds, 0), coalesce(r.merge_seconds, 0),
		m.path, coalesce(m.weights, 0), coalesce(m.bytes, 0), coalesce(m.written_at, ''), coalesce(m.pruned_at, ''), `+pushed+`, `+tasks+`
		FROM runs r LEFT JOIN models m ON m.run_id = r.id `+tail)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	defer rows.Close()
	var runs []Run
	byID := map[int64]int{}
	for rows.Next() {
		var r Run
		var parents, started, finished, written, pruned, pushed string
		var score sql.NullFloat64
		var path sql.NullString
		var weights int
		var bytes, seed int64
		if err := rows.Scan(&r.ID, &r.Name, &r.Status, &r.Method, &r.Config, &r.Hash, &parents, &seed, &score, &r.Error,
			&r.Worker, &started, &finished, &r.EvalSeconds, &r.MergeSeconds, &path, &weights, &bytes, &written, &pruned, &pushed, &r.Tasks); err != nil {
			return nil, fmt.Errorf("%s: %w", l.path, err)
		}
		r.Seed = uint64(seed)
		if err := json.Unmarshal([]byte(parents), &r.Parents); err != nil {
			return nil, fmt.Errorf("%s: run %d: parents: %w", l.path, r.ID, err)
		}
		if score.Valid {
			r.Score = &score.Float64
		}
		r.Started, _ = time.Parse(time.RFC3339Nano, started)
		r.Finished, _ = time.Parse(time.RFC3339Nano, finished)
		if path.Valid {
			r.Model = &Model{Path: path.String, Weights: weights == 1, Bytes: bytes, Pushed: pushed}
			r.Model.Written, _ = time.Parse(time.RFC3339Nano, written)
			r.Model.Pruned, _ = time.Parse(time.RFC3339Nano, pruned)
		}
		byID[r.ID] = len(runs)
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	srows, err := l.db.QueryContext(ctx, "SELECT run_id, task, metric, value, weight FROM scores ORDER BY run_id, task, metric")
	if err != nil {
		return nil, err
	}
	defer srows.Close()
	for srows.Next() {
		var id int64
		var s Score
		if err := srows.Scan(&id, &s.Task, &s.Metric, &s.Value, &s.Weight); err != nil {
			return nil, err
		}
		if i, ok := byID[id]; ok {
			runs[i].Scores = append(runs[i].Scores, s)
		}
	}
	return runs, srows.Err()
}

func (l *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("%s: %w", l.path, err)
	}
	return tx.Commit()
}

func pid() int { return os.Getpid() }
