package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
)

// RemoteModel describes a model repository from its small files and its
// safetensors headers, without its weights: what `gomerge plan` needs. It
// is a safetensors.Source; reading tensor data through it works but goes
// over the network with range requests, so a merge should Resolve first.
type RemoteModel struct {
	Repo, Revision, Commit string
	// Dir is the cached snapshot directory, which holds config.json, the
	// index and the tokenizer files (everything MergeFiles selects but the
	// weights).
	Dir string
	// Config is config.json, nil if the repository has none (an adapter).
	Config []byte
	// Index is model.safetensors.index.json, nil if there is none.
	Index []byte
	// Weights are the weight files a Resolve with MergeFiles would make
	// local.
	Weights []WeightFile

	shards  []*shard
	tensors map[string]modelTensor
	names   []string
}

// WeightFile is a weight file of a RemoteModel.
type WeightFile struct {
	Name string
	// Size is the file's length in bytes.
	Size int64
	// Cached reports whether the cache already holds the file.
	Cached bool
	// Tensors lists a safetensors file's tensors in data order; nil for
	// PyTorch .bin files, whose contents Inspect does not read.
	Tensors []safetensors.TensorInfo
}

type shard struct {
	name   string
	r      *safetensors.Reader
	remote *RemoteFile // nil if cached
	closer io.Closer
}

type modelTensor struct {
	info  safetensors.TensorInfo
	shard int
}

// Inspect fetches the small files of repository repo at revision ("" means
// "main") into the cache and reads the header of every safetensors weight
// file: from the cache when it holds the file, else with range requests
// that fetch a few tens of KiB per shard. ctx also governs later reads of
// tensor data through the returned model. It checks, as safetensors.OpenModel
// does, that the index's weight_map agrees with the shards. Offline, it
// needs the whole model in the cache.
func (c *Client) Inspect(ctx context.Context, repo, revision string) (*RemoteModel, error) {
	var weights []string
	sel := func(files []string, read func(string) ([]byte, error)) ([]string, error) {
		w, err := weightFiles(files, read)
		if err != nil {
			return nil, err
		}
		weights = w
		small := smallFiles(files)
		if c.Offline {
			small = append(small, w...)
		}
		return small, nil
	}
	s, err := c.resolve(ctx, repo, revision, sel)
	if err != nil {
		return nil, err
	}
	m := &RemoteModel{Repo: repo, Revision: s.revision, Commit: s.commit, Dir: s.dir, tensors: map[string]modelTensor{}}
	if b, err := regfile.ReadFile(filepath.Join(s.dir, ConfigFile), regfile.ConfigLimit); err == nil {
		m.Config = b
	}
	if b, err := regfile.ReadFile(filepath.Join(s.dir, SafetensorsIndex), regfile.ConfigLimit); err == nil {
		m.Index = b
	}
	// Headers are read in parallel: each remote one costs two round trips.
	wfs := make([]WeightFile, len(weights))
	shards := make([]*shard, len(weights))
	var g errgroup.Group
	g.SetLimit(c.concurrency())
	for i, name := range weights {
		g.Go(func() (err error) {
			wfs[i], shards[i], err = c.openWeight(ctx, m, s, name)
			return err
		})
	}
	err = g.Wait()
	m.Weights = wfs
	for i, sh := range shards {
		if sh != nil {
			m.shards = append(m.shards, sh)
			if err == nil {
				err = m.addTensors(wfs[i].Tensors, len(m.shards)-1)
			}
		}
	}
	if err == nil {
		err = m.checkIndex()
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	m.names = make([]string, 0, len(m.tensors))
	for n := range m.tensors {
		m.names = append(m.names, n)
	}
	slices.Sort(m.names)
	return m, nil
}

// openWeight describes a weight file and, for safetensors, opens it and
// reads its header.
func (c *Client) openWeight(ctx context.Context, m *RemoteModel, s *snapshotInfo, name string) (WeightFile, *shard, error) {
	wf := WeightFile{Name: name, Size: -1}
	local := s.ch.pointer(s.commit, name)
	if st, err := os.Stat(local); err == nil {
		wf.Size, wf.Cached = st.Size(), true
	} else if f, ok := s.files[name]; ok {
		wf.Size = f.Size
	}
	if !strings.HasSuffix(name, ".safetensors") {
		return wf, nil, nil
	}
	sh := &shard{name: name}
	if wf.Cached {
		f, err := safetensors.Open(local)
		if err != nil {
			return wf, nil, fmt.Errorf("hub: %s@%s: %w", m.Repo, m.Revision, err)
		}
		sh.r, sh.closer = f.Reader, f
	} else {
		rf, err := c.OpenRemote(ctx, m.Repo, s.commit, name)
		if err != nil {
			return wf, nil, err
		}
		r, err := safetensors.NewReader(rf, rf.Size())
		if err != nil {
			return wf, nil, fmt.Errorf("hub: %s@%s: %s: %w", m.Repo, m.Revision, name, err)
		}
		wf.Size = rf.Size()
		sh.r, sh.remote = r, rf
	}
	wf.Tensors = sh.r.Tensors()
	return wf, sh, nil
}

// addTensors indexes the tensors of m.shards[shard].
func (m *RemoteModel) addTensors(tensors []safetensors.TensorInfo, shard int) error {
	for _, t := range tensors {
		if prev, dup := m.tensors[t.Name]; dup {
			return fmt.Errorf("hub: %s@%s: tensor %q is in both %s and %s", m.Repo, m.Revision, t.Name, m.shards[prev.shard].name, m.shards[shard].name)
		}
		m.tensors[t.Name] = modelTensor{info: t, shard: shard}
	}
	return nil
}

// checkIndex checks that each weight_map entry names a shard holding the
// tensor.
func (m *RemoteModel) checkIndex() error {
	if m.Index == nil {
		return nil
	}
	wm, err := parseWeightMap(m.Index)
	if err != nil {
		return fmt.Errorf("hub: %s@%s: %s: %w", m.Repo, m.Revision, SafetensorsIndex, err)
	}
	for name, s := range wm {
		t, ok := m.tensors[name]
		if !ok || m.shards[t.shard].name != s {
			return fmt.Errorf("hub: %s@%s: %s maps tensor %q to %s, which does not contain it", m.Repo, m.Revision, SafetensorsIndex, name, s)
		}
	}
	return nil
}

// Names returns the names of all safetensors tensors, sorted.
func (m *RemoteModel) Names() []string { return m.names }

// Tensor returns the tensor called name and whether it exists.
func (m *RemoteModel) Tensor(name string) (safetensors.TensorInfo, bool) {
	t, ok := m.tensors[name]
	return t.info, ok
}

// File returns the weight file holding the tensor called name, "" if none.
func (m *RemoteModel) File(name string) string {
	t, ok := m.tensors[name]
	if !ok {
		return ""
	}
	return m.shards[t.shard].name
}

// ReadTensorRange reads len(dst) bytes of a tensor's data from off on, from
// the cache or over the network.
func (m *RemoteModel) ReadTensorRange(name string, off int64, dst []byte) error {
	t, ok := m.tensors[name]
	if !ok {
		return fmt.Errorf("hub: %s: no tensor %q", m.Repo, name)
	}
	return m.shards[t.shard].r.ReadTensorRange(t.info, off, dst)
}

// DownloadSize returns how many bytes of weights the cache lacks.
func (m *RemoteModel) DownloadSize() int64 {
	var n int64
	for _, w := range m.Weights {
		if !w.Cached && w.Size > 0 {
			n += w.Size
		}
	}
	return n
}

// BytesFetched returns how many bytes of weight files Inspect and later
// reads fetched over the network.
func (m *RemoteModel) BytesFetched() int64 {
	var n int64
	for _, s := range m.shards {
		if s.remote != nil {
			n += s.remote.BytesFetched()
		}
	}
	return n
}

// Close closes the cached shards it opened.
func (m *RemoteModel) Close() error {
	var errs []error
	for _, s := range m.shards {
		if s.closer != nil {
			errs = append(errs, s.closer.Close())
		}
	}
	return errors.Join(errs...)
}

var _ safetensors.Source = (*RemoteModel)(nil)
