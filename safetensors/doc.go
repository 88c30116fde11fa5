// Package safetensors reads and writes the safetensors tensor file format and
// the sharded model directories built from it.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON header, and a data section. The header maps each tensor name to its
// dtype, shape and [begin, end) byte range within the data section; the
// optional "__metadata__" entry maps strings to strings.
//
// Reading never loads a whole file: [NewReader] reads and validates the header
// from an [io.ReaderAt], and [Reader.ReadTensor] copies one tensor into a
// caller-owned buffer with a single ReadAt, so memory stays bounded by the
// largest tensor and buffers can be reused. Validation is as strict as the
// reference Rust implementation, and additionally rejects duplicate JSON
// keys; every header problem is reported as a [*FormatError] wrapping
// [ErrFormat].
//
// [OpenModel] opens a model directory, either a single model.safetensors or a
// model.safetensors.index.json with its shards, and validates every shard
// header up front.
//
// [Create] writes a model whose tensor names, dtypes and shapes are known in
// advance. Headers are computed before any data is written, so tensors can be
// written in any order, concurrently, straight from the caller's buffers.
// Shards are assigned with mergekit's rule (see [PlanShards]) and named as
// Hugging Face and mergekit name them.
package safetensors
