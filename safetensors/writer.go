package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// partialSuffix marks shard and index files until Close renames them, so a
// crash never leaves a truncated file under a final name.
const partialSuffix = ".partial"

// TensorSpec describes a tensor to be written.
type TensorSpec struct {
	Name  string
	DType DType
	Shape []int64
}

// Shard is one output file and the tensors it holds, in data order.
type Shard struct {
	File    string // name within the output directory
	Tensors []TensorSpec
	Size    int64 // data bytes
}

// PlanShards assigns tensors to shards in the given order the way mergekit
// does: before adding a tensor, if the current shard already holds a tensor
// and its size plus the tensor's would exceed maxShardSize, a new shard is
// started. A tensor larger than the limit therefore gets a shard of its own.
// maxShardSize <= 0 means a single shard.
//
// One shard is named "model.safetensors"; N > 1 shards are named
// "model-00001-of-0000N.safetensors" and so on. Tensors with an invalid dtype
// or shape count as 0 bytes; [Create] rejects them.
func PlanShards(tensors []TensorSpec, maxShardSize int64) []Shard {
	var shards []Shard
	cur := Shard{}
	start := 0
	for i, t := range tensors {
		size, _ := byteSize(t.DType, t.Shape)
		if i > start && maxShardSize > 0 && cur.Size+size > maxShardSize {
			cur.Tensors = tensors[start:i:i]
			shards = append(shards, cur)
			cur, start = Shard{}, i
		}
		cur.Size += size
	}
	cur.Tensors = tensors[start:len(tensors):len(tensors)]
	shards = append(shards, cur)
	if len(shards) == 1 {
		shards[0].File = singleFile
		return shards
	}
	for i := range shards {
		shards[i].File = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
	}
	return shards
}

// WriterOptions configures [Create].
type WriterOptions struct {
	// MaxShardSize is the shard size limit in data bytes; <= 0 means one shard.
	MaxShardSize int64
	// Metadata is each header's __metadata__. Nil means {"format":"pt"}; an
	// empty non-nil map writes no __metadata__.
	Metadata map[string]string
	// IndexMetadata holds keys for the index's "metadata" object besides
	// total_size, such as "mergekit_version".
	IndexMetadata map[string]any
	// SingleFile names the file when everything fits one shard; empty
	// means "model.safetensors". PEFT adapters use
	// "adapter_model.safetensors".
	SingleFile string
	// Buffered writes all tensor data through the page cache, as gomerge
	// did before it used O_DIRECT; so does GOMERGE_BUFFERED_WRITE=1 in
	// the environment. By default the 4 KiB-aligned middle of every
	// tensor of 64 KiB or more bypasses the page cache where the file
	// system allows O_DIRECT, which leaves the output out of the page
	// cache.
	Buffered bool
}

// Writer writes a model whose tensors are known in advance; see [Create].
// WriteTensor may be called from several goroutines at once; Close and Abort
// may not run concurrently with each other.
type Writer struct {
	dir       string
	shards    []Shard
	files     []*os.File
	direct    []*os.File // the same shards opened with O_DIRECT; nil entries where refused
	indexMeta map[string]any

	// noDirect is set when the file system refused a direct write: from
	// then on staged blocks go through files.
	noDirect atomic.Bool
	// directBytes counts the bytes written with O_DIRECT, for tests.
	directBytes atomic.Int64
	flushes     sync.WaitGroup // asynchronous direct writes

	mu      sync.Mutex
	state   writerState
	entries map[string]*entry
	created []string // paths of files this Writer made that may still exist
	writes  sync.WaitGroup
}

type writerState int

const (
	writerOpen writerState = iota
	writerClosing
	writerFailed // Close failed; Abort still removes the files
	writerDone
	writerAborted
)

type entry struct {
	order int // position in the tensor list, for messages
	file  int
	off   int64 // absolute offset in the shard file
	size  int64
	done  int64 // bytes written so far by WriteTensorPart
	// flushed is how many of them have been handed to writeback
	flushed int64
	state   entryState
	stage   *stage // non-nil while the tensor's middle goes out with O_DIRECT
}

type entryState uint8

const (
	entryPending entryState = iota
	entryWriting
	entryWritten
)

// Create starts writing the given tensors into the existing directory dir,
// split into shards by [PlanShards]. It creates every shard file and writes
// its header at once; tensor data then goes straight to its final offset, so
// [Writer.WriteTensor] accepts tensors in any order. Files carry a ".partial"
// suffix until [Writer.Close] renames them.
//
// Duplicate or reserved names, names that are not valid UTF-8, unknown
// dtypes and negative dimensions are errors.
func Create(dir string, tensors []TensorSpec, opt WriterOptions) (*Writer, error) {
	if err := checkSpecs(tensors); err != nil {
		return nil, err
	}
	meta := opt.Metadata
	if meta == nil {
		meta = map[string]string{"format": "pt"}
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: metadata %q: not valid UTF-8", k)
		}
	}
	indexMeta := maps.Clone(opt.IndexMetadata)
	if indexMeta == nil {
		indexMeta = make(map[string]any)
	}
	if _, err := json.Marshal(indexMeta); err != nil {
		return nil, fmt.Errorf("safetensors: index metadata: %w", err)
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !st.IsDir() {
		return nil, fmt.Errorf("safetensors: %s is not a directory", dir)
	}

	w := &Writer{
		dir:       dir,
		shards:    PlanShards(tensors, opt.MaxShardSize),
		indexMeta: indexMeta,
		entries:   make(map[string]*entry, len(tensors)),
	}
	w.noDirect.Store(opt.Buffered || os.Getenv("GOMERGE_BUFFERED_WRITE") == "1")
	if len(w.shards) == 1 && opt.SingleFile != "" {
		if !filepath.IsLocal(opt.SingleFile) || filepath.Base(opt.SingleFile) != opt.SingleFile {
			return nil, fmt.Errorf("safetensors: SingleFile %q is not a plain file name", opt.SingleFile)
		}
		w.shards[0].File = opt.SingleFile
	}
	order := 0
	for i, sh := range w.shards {
		hdr := appendHeader(nil, meta, sh.Tensors)
		if err := w.createShard(sh, hdr); err != nil {
			w.Abort()
			return nil, err
		}
		off := int64(len(hdr))
		for _, t := range sh.Tensors {
			size, _ := byteSize(t.DType, t.Shape)
			w.entries[t.Name] = &entry{order: order, file: i, off: off, size: size}
			off += size
			order++
		}
	}
	return w, nil
}

func (w *Writer) createShard(sh Shard, hdr []byte) error {
	path := filepath.Join(w.dir, sh.File+partialSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w.files = append(w.files, f)
	w.created = append(w.created, path)
	var d *os.File
	if !w.noDirect.Load() {
		d = openDirect(path) // nil where the file system refuses O_DIRECT
	}
	w.direct = append(w.direct, d)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return err
	}
	// Size the file now so that it is complete however the writes are
	// ordered, with its disk space reserved.
	if err := preallocate(f, int64(len(hdr))+sh.Size); err != nil {
		return fmt.Errorf("%s: reserve %d bytes: %w", path, int64(len(hdr))+sh.Size, err)
	}
	return f.Truncate(int64(len(hdr)) + sh.Size)
}

func checkSpecs(tensors []TensorSpec) error {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		switch {
		case seen[t.Name]:
			return fmt.Errorf("safetensors: tensor %q listed twice", t.Name)
		case t.Name == metadataKey:
			return fmt.Errorf("safetensors: tensor name %q is reserved", t.Name)
		case !utf8.ValidString(t.Name):
			return fmt.Errorf("safetensors: tensor %q: name is not valid UTF-8", t.Name)
		}
		seen[t.Name] = true
		if _, err := byteSize(t.DType, t.Shape); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// appendHeader appends the length-prefixed header that the Rust crate would
// write: __metadata__ first, then the tensors in data order, padded with
// spaces to a multiple of 8 bytes.
func appendHeader(b []byte, meta map[string]string, tensors []TensorSpec) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, '{')
	if len(meta) > 0 {
		b = appendString(b, metadataKey)
		b = append(b, ":{"...)
		for i, k := range slices.Sorted(maps.Keys(meta)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, meta[k])
		}
		b = append(b, '}')
	}
	var off int64
	for i, t := range tensors {
		if i > 0 || len(meta) > 0 {
			b = append(b, ',')
		}
		size, _ := byteSize(t.DType, t.Shape)
		b = appendString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, off+size, 10)
		b = append(b, "]}"...)
		off += size
	}
	b = append(b, '}')
	for (len(b)-start)%8 != 0 {
		b = append(b, ' ')
	}
	binary.LittleEndian.PutUint64(b[start:], uint64(len(b)-start-8))
	return b
}

// appendString appends s, which must be valid UTF-8, as a JSON string,
// escaping only what JSON requires, as serde_json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20:
			b = append(b, c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}

// Shards returns the shard plan. The caller must not modify it.
func (w *Writer) Shards() []Shard { return w.shards }

// WriteTensor writes the data of the tensor called name, whose length must
// equal the tensor's byte size, with one WriteAt at its precomputed offset.
// Each tensor must be written exactly once; a failed write may be retried.
func (w *Writer) WriteTensor(name string, data []byte) error {
	w.mu.Lock()
	e, ok := w.entries[name]
	w.mu.Unlock()
	if ok && int64(len(data)) != e.size {
		return fmt.Errorf("safetensors: write tensor %q: data is %d bytes, tensor is %d", name, len(data), e.size)
	}
	return w.WriteTensorPart(name, 0, data)
}

// WriteTensorPart writes a piece of a tensor's data that starts off bytes
// into the tensor, so a large tensor can be streamed through a small
// buffer. The pieces of one tensor must come in order, each starting where
// the previous one ended; the tensor is complete when they add up to its
// size. Pieces of different tensors may interleave, from several
// goroutines.
func (w *Writer) WriteTensorPart(name string, off int64, data []byte) error {
	w.mu.Lock()
	e, ok := w.entries[name]
	var err error
	switch {
	case w.state != writerOpen:
		err = errors.New("writer is closed")
	case !ok:
		err = errors.New("not in the tensor list given to Create")
	case e.state == entryWritten:
		err = errors.New("written twice")
	case e.state == entryWriting:
		err = errors.New("written concurrently")
	case off != e.done:
		err = fmt.Errorf("piece starts at byte %d, but %d bytes are written", off, e.done)
	case off+int64(len(data)) > e.size:
		err = fmt.Errorf("data ends at byte %d, tensor is %d", off+int64(len(data)), e.size)
	}
	if err != nil {
		w.mu.Unlock()
		return fmt.Errorf("safetensors: write tensor %q: %w", name, err)
	}
	e.state = entryWriting
	w.writes.Add(1)
	f := w.files[e.file]
	if e.done == 0 && e.stage == nil {
		e.stage = w.newStage(e)
	}
	st := e.stage
	w.mu.Unlock()

	switch {
	case st != nil:
		err = w.writeStaged(e, st, e.off+off, data)
	case len(data) > 0:
		_, err = f.WriteAt(data, e.off+off)
	}
	var flushOff, flushLen int64
	w.mu.Lock()
	e.state = entryPending
	if err != nil {
		err = fmt.Errorf("%s: write tensor %q: %w", w.shards[e.file].File, name, err)
	} else {
		e.done += int64(len(data))
		if e.done == e.size {
			e.state = entryWritten
			if st != nil {
				putStageBuffers(st.buffers())
				e.stage = nil
			}
		}
		if st != nil {
			// The direct blocks need no writeback, and Close's fsync
			// finds the few buffered pages at the edges.
			e.flushed = e.done
		}
		if e.done-e.flushed >= writebackChunk || e.done == e.size && e.done > e.flushed {
			flushOff, flushLen = e.off+e.flushed, e.done-e.flushed
			e.flushed = e.done
		}
	}
	w.mu.Unlock()
	if flushLen > 0 {
		writeback(f, flushOff, flushLen) // before Done: Close may close f then
	}
	w.writes.Done()
	return err
}

// writebackChunk is how many bytes of a tensor WriteTensorPart lets
// gather before it starts their writeback: requests of a few MiB (the
// disk's largest is often 4 MiB) cost fewer interrupts and queue entries
// than one per piece, and the pages are still written while the merge
// goes on.
const writebackChunk = 4 << 20

// writeback is startWriteback; tests record the ranges instead.
var writeback = startWriteback

// Close checks that every tensor was written, syncs and closes the shards,
// renames them to their final names and, if there is more than one shard,
// writes model.safetensors.index.json. With a single shard it removes a stale
// index left in the directory by an earlier sharded write, which would
// otherwise take precedence over model.safetensors. If Close fails, call
// [Writer.Abort] to remove the files.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.state != writerOpen {
		w.mu.Unlock()
		return errors.New("safetensors: writer already closed")
	}
	w.state = writerClosing
	w.mu.Unlock()
	w.writes.Wait()
	w.flushes.Wait()
	w.releaseStages()

	err := w.finish()
	w.mu.Lock()
	w.state = writerDone
	if err != nil {
		w.state = writerFailed
	}
	w.mu.Unlock()
	return err
}

func (w *Writer) finish() error {
	if err := w.checkWritten(); err != nil {
		w.closeFiles()
		return err
	}
	for i, f := range w.files {
		err := f.Sync() // also makes the direct writes' block allocations durable
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if d := w.direct[i]; d != nil {
			if cerr := d.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			w.closeFiles()
			return fmt.Errorf("safetensors: %s: %w", w.created[i], err)
		}
	}
	for i, sh := range w.shards {
		final := filepath.Join(w.dir, sh.File)
		if err := os.Rename(w.created[i], final); err != nil {
			return err
		}
		w.created[i] = final
	}
	indexPath := filepath.Join(w.dir, indexFile)
	if len(w.shards) > 1 {
		if err := w.writeIndex(indexPath); err != nil {
			return err
		}
	} else if err := os.Remove(indexPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(w.dir)
}

func (w *Writer) checkWritten() error {
	var missing []string
	for name, e := range w.entries {
		if e.state != entryWritten {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.SortFunc(missing, func(a, b string) int { return w.entries[a].order - w.entries[b].order })
	const show = 5
	list := missing[:min(len(missing), show)]
	for i, name := range list {
		list[i] = strconv.Quote(name)
	}
	msg := strings.Join(list, ", ")
	if len(missing) > show {
		msg += fmt.Sprintf(" and %d more", len(missing)-show)
	}
	return fmt.Errorf("safetensors: %d of %d tensors never written: %s", len(missing), len(w.entries), msg)
}

func (w *Writer) writeIndex(path string) error {
	var total int64
	weightMap := make(map[string]string, len(w.entries))
	for _, sh := range w.shards {
		total += sh.Size
		for _, t := range sh.Tensors {
			weightMap[t.Name] = sh.File
		}
	}
	meta := maps.Clone(w.indexMeta)
	meta["total_size"] = total
	data, err := json.MarshalIndent(index{Metadata: meta, WeightMap: weightMap}, "", "  ")
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	data = append(data, '\n')
	tmp := path + partialSuffix
	w.created = append(w.created, tmp)
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	w.created[len(w.created)-1] = path
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *Writer) closeFiles() {
	for _, f := range w.files {
		f.Close() // may already be closed; nothing to report
	}
	for _, f := range w.direct {
		if f != nil {
			f.Close()
		}
	}
}

// Abort stops writing, closes the files and removes every file the Writer
// created. After a successful Close it does nothing, so it can be deferred
// right after Create.
func (w *Writer) Abort() error {
	w.mu.Lock()
	prev := w.state
	if prev == writerDone || prev == writerAborted {
		w.mu.Unlock()
		return nil
	}
	w.state = writerAborted
	w.mu.Unlock()
	w.writes.Wait()
	w.flushes.Wait()
	w.releaseStages()
	w.closeFiles()
	var errs []error
	for _, path := range w.created {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	w.created = nil
	return errors.Join(errs...)
}
