package pytorch

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
)

// File is an open torch.save checkpoint holding a state dict: a dict of
// names to tensors. Tensor bytes stay in the file until read. Its methods are
// safe for concurrent use.
type File struct {
	name    string
	f       io.ReaderAt
	closer  io.Closer
	size    int64
	legacy  bool
	names   []string
	tensors map[string]*fileTensor
	skipped []string
}

// fileTensor is one named tensor: a view of a storage record.
type fileTensor struct {
	info safetensors.TensorInfo
	ref  *tensorRef
	data *storageData
}

// storageData is where a storage's bytes are in the file.
type storageData struct {
	name string    // record name, for messages
	off  int64     // absolute offset of the bytes, if stored uncompressed
	size int64     // bytes
	zf   *zip.File // set when the record is compressed and must be inflated
}

// maxExpand is the largest view that may exceed its storage's size.
const maxExpand = 1 << 30

// legacyMagic is the first pickle of a non-zip torch.save file.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// Open opens the torch.save checkpoint at path, in the zip format of torch
// 1.6 and later or the older legacy format, and reads its pickle with a
// restricted unpickler: only storages, dtypes, tensor rebuild functions and
// collections.OrderedDict are allowed, and anything else is refused with an
// error wrapping [ErrUnsafe]. No code from the checkpoint is ever run.
// Errors name path; a path that is not a regular file (a FIFO, a device)
// is refused before it is opened. Open does not log: state dict entries
// that are not tensors are left out and listed by Skipped.
func Open(path string) (*File, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	pf, err := newFile(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	pf.closer = f
	return pf, nil
}

// newFile reads the checkpoint in r, naming it name in errors.
func newFile(r io.ReaderAt, size int64, name string) (*File, error) {
	pf := &File{name: name, f: r, size: size, tensors: map[string]*fileTensor{}}
	if err := pf.load(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return pf, nil
}

func (pf *File) load() error {
	var head [4]byte
	n, _ := pf.f.ReadAt(head[:], 0)
	switch {
	case n == 4 && string(head[:]) == "PK\x03\x04":
		return pf.loadZip()
	case n >= 2 && head[0] == opProto:
		pf.legacy = true
		return pf.loadLegacy()
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b, n >= 1 && head[0] == 0:
		return formatErr("not a torch.save checkpoint (gzip or tar, perhaps torch before 0.4)")
	}
	return formatErr("not a torch.save checkpoint (neither a zip nor a pickle)")
}

// loadZip reads the zip format: <prefix>/data.pkl, <prefix>/data/<key> for
// each storage and <prefix>/byteorder.
func (pf *File) loadZip() error {
	zr, err := zip.NewReader(pf.f, pf.size)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrFormat)
	}
	if len(zr.File) == 0 {
		return formatErr("empty zip")
	}
	prefix, _, ok := strings.Cut(zr.File[0].Name, "/")
	if !ok {
		return formatErr("zip entry %q is not inside a folder as torch.save writes", zr.File[0].Name)
	}
	files := map[string]*zip.File{}
	for _, zf := range zr.File {
		files[zf.Name] = zf
	}
	if bo, ok := files[prefix+"/byteorder"]; ok {
		b, err := readSmall(bo)
		if err != nil {
			return err
		}
		if s := strings.TrimSpace(string(b)); s != "little" {
			return formatErr("byte order %q: only little-endian checkpoints are supported", s)
		}
	}
	pkl, ok := files[prefix+"/data.pkl"]
	if !ok {
		return formatErr("no %s/data.pkl in the zip", prefix)
	}
	rc, err := pkl.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", pkl.Name, asFormat(err))
	}
	defer rc.Close()
	l := newLoader(false)
	obj, _, err := unpickle(bufio.NewReader(rc), l)
	if err != nil {
		return fmt.Errorf("%s: %w", pkl.Name, asFormat(err))
	}
	data := map[string]*storageData{}
	for _, key := range l.keys {
		name := prefix + "/data/" + key
		zf, ok := files[name]
		if !ok || !fs.ValidPath(name) {
			return formatErr("storage %q: no record %s", key, name)
		}
		sd := &storageData{name: zf.Name, size: int64(zf.UncompressedSize64)}
		if sd.size < 0 {
			return formatErr("%s: size %d", zf.Name, zf.UncompressedSize64)
		}
		if zf.Method == zip.Store && zf.CompressedSize64 == zf.UncompressedSize64 {
			off, err := zf.DataOffset()
			if err != nil {
				return fmt.Errorf("%s: %w: %w", zf.Name, err, ErrFormat)
			}
			if off < 0 || off > pf.size || sd.size > pf.size-off {
				return formatErr("%s: data at %d+%d runs past the end of the file (%d bytes)", zf.Name, off, sd.size, pf.size)
			}
			sd.off = off
		} else {
			sd.zf = zf
		}
		data[key] = sd
	}
	return pf.collect(obj, data)
}

func readSmall(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zf.Name, asFormat(err))
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1024))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", zf.Name, asFormat(err))
	}
	return b, nil
}

// asFormat marks an error from reading inside the zip (a bad checksum,
// corrupt deflate data, a truncated record) as a malformed checkpoint.
func asFormat(err error) error {
	if errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsafe) {
		return err
	}
	return fmt.Errorf("%w: %w", err, ErrFormat)
}

// countingReader counts the bytes its bufio.Reader hands out, so that the
// file offset after a pickle is known despite read-ahead.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// plainData allows no globals, persistent ids or calls: the legacy format's
// header pickles are plain data.
type plainData struct{}

func (plainData) findGlobal(module, name string) (any, error) {
	return nil, fmt.Errorf("global %s is not allowed in a header pickle: %w", quoteGlobal(module+"."+name), ErrUnsafe)
}
func (plainData) persistentLoad(any) (any, error) {
	return nil, formatErr("persistent id in a header pickle")
}
func (plainData) reduce(fn any, _ tuple) (any, error) {
	return nil, fmt.Errorf("call of %s is not allowed in a header pickle: %w", typeName(fn), ErrUnsafe)
}
func (plainData) build(obj, _ any) error {
	return fmt.Errorf("BUILD of %s is not allowed in a header pickle: %w", typeName(obj), ErrUnsafe)
}

// loadLegacy reads the pre-1.6 format: pickles of the magic number, the
// protocol version, sys_info and the object, then a pickle of the storage
// keys, then each storage as an 8-byte little-endian element count followed
// by its bytes.
func (pf *File) loadLegacy() error {
	cr := &countingReader{r: bufio.NewReader(io.NewSectionReader(pf.f, 0, pf.size))}
	header := func(what string) (any, error) {
		v, _, err := unpickle(cr, plainData{})
		if err != nil {
			return nil, fmt.Errorf("legacy %s: %w", what, err)
		}
		return v, nil
	}
	magic, err := header("magic number")
	if err != nil {
		return err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return formatErr("legacy format magic number is %s, want 0x%x", describe(magic), legacyMagic)
	}
	version, err := header("protocol version")
	if err != nil {
		return err
	}
	if v, _ := version.(int64); v != 1001 {
		return formatErr("legacy protocol version %s, want 1001", describe(version))
	}
	sysInfo, err := header("sys_info")
	if err != nil {
		return err
	}
	if d, ok := sysInfo.(*dict); ok {
		if i, ok := d.index["little_endian"]; ok && d.vals[i] != true {
			return formatErr("big-endian legacy checkpoint: only little-endian ones are supported")
		}
	}
	l := newLoader(true)
	obj, _, err := unpickle(cr, l)
	if err != nil {
		return fmt.Errorf("legacy object pickle: %w", err)
	}
	keysObj, err := header("storage keys")
	if err != nil {
		return err
	}
	keys, ok := keysObj.(*list)
	if !ok {
		return formatErr("legacy storage keys are %s, want a list", typeName(keysObj))
	}
	data := map[string]*storageData{}
	pos := cr.n
	for _, k := range keys.items {
		key, ok := k.(string)
		if !ok {
			return formatErr("legacy storage key %s, want a string", typeName(k))
		}
		ref, ok := l.storages[key]
		if !ok {
			return formatErr("legacy storage %q is listed but no tensor uses it, so its element size is unknown", key)
		}
		var b [8]byte
		if _, err := pf.f.ReadAt(b[:], pos); err != nil {
			return fmt.Errorf("legacy storage %q size at byte %d: %w", key, pos, truncated(err))
		}
		numel := int64(binary.LittleEndian.Uint64(b[:]))
		es := int64(ref.dtype.Size())
		if numel < 0 || numel > (pf.size-pos-8)/es {
			return formatErr("legacy storage %q of %d elements at byte %d runs past the end of the file (%d bytes)", key, numel, pos, pf.size)
		}
		data[key] = &storageData{name: "storage " + key, off: pos + 8, size: numel * es}
		pos += 8 + numel*es
	}
	return pf.collect(obj, data)
}

// collect records the tensors of the state dict obj, checking each against
// the bytes its storage actually has.
func (pf *File) collect(obj any, data map[string]*storageData) error {
	d, ok := obj.(*dict)
	if !ok {
		return formatErr("the checkpoint holds %s, want a state dict (a dict of tensors)", typeName(obj))
	}
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return formatErr("state dict key %s, want a string", describe(k))
		}
		t, ok := d.vals[i].(*tensorRef)
		if !ok {
			pf.skipped = append(pf.skipped, name)
			continue
		}
		sd, ok := data[t.storage.key]
		if !ok {
			return formatErr("tensor %q: storage %q has no data", name, t.storage.key)
		}
		info := safetensors.TensorInfo{Name: name, DType: t.dtype, Shape: t.shape, Offset: -1}
		info.Size = info.NumElements() * int64(t.dtype.Size())
		if info.Size > 0 {
			last, err := t.lastElement()
			if err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			if end := (last + 1) * int64(t.dtype.Size()); end > sd.size {
				return formatErr("tensor %q: view of shape %v, stride %v, offset %d needs %d bytes of %s, which has %d", name, t.shape, t.stride, t.offset, end, sd.name, sd.size)
			}
		}
		// Stride-0 views (expand) may be larger than their storage; keep a
		// hostile file from announcing exabytes backed by one element.
		if info.Size > sd.size && info.Size > maxExpand {
			return formatErr("tensor %q: view of %d bytes expands %d bytes of %s (limit %d)", name, info.Size, sd.size, sd.name, int64(maxExpand))
		}
		if sd.zf == nil && info.Size > 0 && t.contiguous() {
			info.Offset = sd.off + t.offset*int64(t.dtype.Size())
		}
		pf.names = append(pf.names, name)
		pf.tensors[name] = &fileTensor{info: info, ref: t, data: sd}
	}
	return nil
}

// Name returns the path the file was opened with.
func (pf *File) Name() string { return pf.name }

// Legacy reports whether the file is in the pre-1.6 non-zip format.
func (pf *File) Legacy() bool { return pf.legacy }

// Names returns the tensor names in the order the state dict holds them. The
// caller must not modify the slice.
func (pf *File) Names() []string { return pf.names }

// Skipped returns the state dict keys whose values are not tensors, which
// are left out of Names.
func (pf *File) Skipped() []string { return pf.skipped }

// Tensor returns the description of the tensor called name: its dtype and
// shape as a contiguous row-major tensor, and Size in bytes. Offset is the
// absolute file offset of the data when it is stored contiguously and
// uncompressed, else -1.
func (pf *File) Tensor(name string) (safetensors.TensorInfo, bool) {
	t, ok := pf.tensors[name]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	return t.info, true
}

// ReadTensor reads the whole tensor called name into dst, whose length must
// be its Size, as contiguous row-major little-endian bytes.
func (pf *File) ReadTensor(name string, dst []byte) error {
	t, ok := pf.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", pf.name, name, fs.ErrNotExist)
	}
	if int64(len(dst)) != t.info.Size {
		return fmt.Errorf("%s: tensor %q: buffer of %d bytes for %d", pf.name, name, len(dst), t.info.Size)
	}
	return pf.ReadTensorRange(name, 0, dst)
}

// ReadTensorRange fills dst with the bytes of the tensor called name
// starting off bytes into its contiguous row-major form. Contiguous tensors
// are read with one ReadAt into dst. A view that is not contiguous (a
// transpose, a step, an expand) is gathered from the smallest span of its
// storage that holds the requested elements, so besides dst it allocates that
// span: for a transpose up to all the storage bytes the tensor covers, even
// for a small range; for an expand only the rows it repeats; for a step the
// rows in between. A range that does not start and end on element boundaries
// takes one more buffer of its length. A record the zip stores compressed is
// inflated from its start on every read.
func (pf *File) ReadTensorRange(name string, off int64, dst []byte) error {
	t, ok := pf.tensors[name]
	if !ok {
		return fmt.Errorf("%s: tensor %q: %w", pf.name, name, fs.ErrNotExist)
	}
	if off < 0 || off > t.info.Size || int64(len(dst)) > t.info.Size-off {
		return fmt.Errorf("%s: tensor %q: range %d+%d outside its %d bytes", pf.name, name, off, len(dst), t.info.Size)
	}
	if len(dst) == 0 {
		return nil
	}
	if err := pf.readView(t, off, dst); err != nil {
		return fmt.Errorf("%s: tensor %q: %w", pf.name, name, err)
	}
	return nil
}

// readStorage reads len(dst) bytes of a storage starting at byte off.
func (pf *File) readStorage(sd *storageData, off int64, dst []byte) error {
	if sd.zf == nil {
		n, err := pf.f.ReadAt(dst, sd.off+off)
		if n == len(dst) {
			return nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read %s: %w", sd.name, err)
	}
	// A compressed record has no random access: inflate up to the range.
	rc, err := sd.zf.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", sd.name, err)
	}
	defer rc.Close()
	if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return fmt.Errorf("inflate %s: %w", sd.name, err)
	}
	if _, err := io.ReadFull(rc, dst); err != nil {
		return fmt.Errorf("inflate %s: %w", sd.name, err)
	}
	return nil
}

// Close closes the file.
func (pf *File) Close() error {
	if pf.closer == nil {
		return nil
	}
	return pf.closer.Close()
}

var _ safetensors.Source = (*File)(nil)
