// Package evolve searches merge recipes by evolution, as mergekit-evolve
// does: a genome (models, a merge method, a layer granularity, filters)
// spans genotypes of real numbers; CMA-ES proposes genotypes; each is
// decoded into a mergekit config ([Genome.MergeConfig]), scored as a
// [worker.Job] on a [worker.Pool], and the weighted score (higher is
// better) is fed back.
//
// [Run] keeps its state in a storage directory: best_config.yaml whenever
// the best improves, evals.jsonl with one line per scored candidate, and a
// checkpoint of the optimizer after every generation, so that a run killed
// at any moment resumes from its last completed generation and re-uses the
// candidates it had already scored.
package evolve
