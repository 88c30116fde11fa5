// Package automerge is gomerge's nightly AutoMerger: what mlabonne's
// AutoMerger and LazyMergekit do with a Gradio space, a leaderboard
// scraper and rented GPUs, done by one unattended run over a pool of
// models.
//
// A [poolfile.Pool] (a YAML file: models, an optional base, the tasks that score a
// child, the recipes with their probabilities and parameter ranges, how
// parents are selected, how many children to keep) drives [Run]. Each run
// draws a recipe and two parents (earlier children among them: merges of
// merges), skips a config already tried (the hash of its normalized
// form), scores the child in memory through a [worker.Pool] (so that
// `gomerge worker` processes on other machines can share a night's work),
// and writes it to disk, with a LazyMergekit-style model card, only when
// it enters the top K; children that fall out of the top K lose their
// weights but keep their card. Everything is recorded in an SQLite
// leaderboard (package automerge/leaderboard).
//
// A state directory is used by one Run at a time (a flock; a second Run
// fails with [ErrLocked]). A session killed at any point leaves no
// complete-looking half-written child (children are written through
// gomerge's staging directories), and its runs are marked interrupted by
// the next session.
package automerge
