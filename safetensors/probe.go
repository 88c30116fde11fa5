package safetensors

import (
	"fmt"
	"io/fs"
	"os"
	"time"
)

// MapCost is what reading the first Bytes of a tensor costs, with its
// pages in the page cache, through a fresh memory mapping (Map: mapping
// them and touching every page once) against a copy with pread into a
// buffer used before (Read): the result of [File.ProbeMap].
//
// Which is cheaper depends on the machine, not on the file. On bare metal
// and on some virtual machines a mapped page costs less than copying it;
// on others the first touch of each page of a fresh mapping costs 1.5-2
// µs even with its page tables filled (the hypervisor's nested page
// tables), several times a copy.
type MapCost struct {
	Bytes int64
	Map   time.Duration
	Read  time.Duration
}

// MapProber is a [Mapper] that can measure [MapCost] on the file holding a
// tensor (*Model, *File).
type MapProber interface {
	// ProbeMap measures MapCost on at most n bytes of the tensor's data.
	ProbeMap(name string, n int64) (MapCost, error)
}

var _ MapProber = (*Model)(nil)

// probeRounds is how often ProbeMap measures each way; it keeps the
// fastest, the one least disturbed by other work.
const probeRounds = 3

// ProbeMap measures MapCost on the first n bytes (at most the tensor's
// size) of a tensor's data. It reads them once first, so that both ways
// find them in the page cache, and keeps the fastest of three
// measurements of each. It takes about a millisecond per 8 MiB.
func (f *File) ProbeMap(name string, n int64) (MapCost, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return MapCost{}, fmt.Errorf("%s: tensor %q: %w", f.name, name, fs.ErrNotExist)
	}
	n = min(n, t.Size)
	if n <= 0 {
		return MapCost{}, fmt.Errorf("%s: tensor %q: no bytes to probe", f.name, name)
	}
	buf := make([]byte, n)
	if err := f.ReadTensorRange(t, 0, buf); err != nil {
		return MapCost{}, err
	}
	c := MapCost{Bytes: n, Map: time.Hour, Read: time.Hour}
	page := os.Getpagesize()
	for range probeRounds {
		start := time.Now()
		if err := f.ReadTensorRange(t, 0, buf); err != nil {
			return MapCost{}, err
		}
		c.Read = min(c.Read, time.Since(start))
		start = time.Now()
		m, err := mapRange(f.f, t.Offset, n)
		if err != nil {
			return MapCost{}, ioError(f.name, fmt.Sprintf("map tensor %q", name), err)
		}
		touched := touchPages(m.Data, page)
		if err := m.Close(); err != nil {
			return MapCost{}, ioError(f.name, fmt.Sprintf("unmap tensor %q", name), err)
		}
		c.Map = min(c.Map, time.Since(start))
		if touched != touchPages(buf, page) { // also keeps the loads
			return MapCost{}, fmt.Errorf("%s: tensor %q: the mapping and the read disagree (was the file changed?)", f.name, name)
		}
	}
	return c, nil
}

// touchPages reads the first byte of every page of b and returns their
// exclusive or.
func touchPages(b []byte, page int) byte {
	var x byte
	for i := 0; i < len(b); i += page {
		x ^= b[i]
	}
	return x
}

// ProbeMap measures MapCost on the shard holding the tensor; see
// [File.ProbeMap].
func (m *Model) ProbeMap(name string, n int64) (MapCost, error) {
	mt, ok := m.tensors[name]
	if !ok {
		return MapCost{}, fmt.Errorf("%s: tensor %q: %w", m.dir, name, fs.ErrNotExist)
	}
	return m.files[mt.file].ProbeMap(name, n)
}
