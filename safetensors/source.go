package safetensors

// Source is a read-only set of named tensors, as the merge planner and
// executor read them. *Model is one; PyTorch checkpoints and a base model
// with a LoRA adapter applied on the fly present themselves the same way.
//
// TensorInfo.Offset is meaningful only to the Source that returned it.
// ReadTensorRange reads bytes of the tensor's row-major (C-contiguous)
// little-endian data in its DType, starting off bytes in; implementations
// must be safe for concurrent use.
type Source interface {
	// Names returns every tensor name in a stable order.
	Names() []string
	// Tensor returns a tensor's description.
	Tensor(name string) (TensorInfo, bool)
	// ReadTensorRange fills dst with len(dst) bytes of a tensor's data
	// starting off bytes into it.
	ReadTensorRange(name string, off int64, dst []byte) error
	// Close releases the source's files.
	Close() error
}

var _ Source = (*Model)(nil)

// Mapper is a Source whose tensors can be mapped into memory instead of
// read (*Model where the system supports it).
type Mapper interface {
	// MapTensor returns a tensor's data mapped read-only.
	MapTensor(name string) (*Mapping, error)
}

var _ Mapper = (*Model)(nil)

// Prefetcher is a Source that can start reading a tensor ahead of its use
// (*Model).
type Prefetcher interface {
	// PrefetchTensor starts bringing a tensor's data into the page cache
	// and returns at once.
	PrefetchTensor(name string)
}

var _ Prefetcher = (*Model)(nil)
