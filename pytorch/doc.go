// Package pytorch reads PyTorch checkpoints written by torch.save, as
// Hugging Face stores them in pytorch_model.bin files, without running any
// code from them.
//
// A torch.save file is a pickle, a program for Python's pickle virtual
// machine, whose GLOBAL and REDUCE opcodes import and call any Python
// function: loading one with Python's pickle runs whatever its author chose.
// This package runs the pickle in a restricted machine written in Go that
// knows only the opcodes of protocols 2 to 5 that torch.save emits and only
// the globals a state dict needs: torch's storage classes (torch.FloatStorage,
// torch.BFloat16Storage, ..., torch.storage.UntypedStorage), dtypes
// (torch.bfloat16, torch.float8_e4m3fn, ...), the tensor rebuild functions
// (torch._utils._rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3,
// _rebuild_parameter, _rebuild_parameter_with_state) and
// collections.OrderedDict. None of them is called: each is a tag that the
// machine interprets. Any other global, any call of something else and the
// opcodes that build arbitrary objects (INST, OBJ, NEWOBJ, EXT*) are refused
// with an error that wraps [ErrUnsafe] and names the file and the global.
// Stack, nesting, memo and string sizes are bounded, so a hostile pickle
// costs little memory.
//
// Two file formats are read. The zip format (torch 1.6 and later) holds
// <prefix>/data.pkl and each storage as <prefix>/data/<key>; stored
// (uncompressed) records, which is what torch.save writes, are read in place
// with ReadAt, and compressed ones are inflated on each read. The legacy
// format is a sequence of pickles (magic number, protocol version, sys_info,
// the state dict, the storage keys) followed by the raw storages, each after
// its 8-byte element count.
//
// A tensor is a view of a storage: an offset, a shape and strides. Reads
// return the contiguous row-major bytes of the view, whatever its strides:
// views with offsets, transposes, steps and stride-0 expands are gathered
// from their storage (see [File.ReadTensorRange] for the memory this takes),
// and several names may share one storage.
//
// [Open] reads one file; [OpenModel] reads a model directory (a single
// pytorch_model.bin or the shards that pytorch_model.bin.index.json names)
// and presents it as a [safetensors.Source], so merges read it as they read
// safetensors.
package pytorch
