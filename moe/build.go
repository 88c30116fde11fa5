package moe

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// Options configures Build.
type Options struct {
	// Seed seeds the random gate modes and noise_scale.
	Seed uint64
	// Threads is how many tensors are written at once; 0 means
	// runtime.GOMAXPROCS(0). The output does not depend on it.
	Threads int
	// ShardSize is the largest output shard in bytes; <= 0 means one file.
	ShardSize int64
	// GateVectors, when set, is a safetensors file whose [layers, rows,
	// hidden] tensor replaces the gate mode's router weights.
	GateVectors string
	// CopyTokenizer writes the base's tokenizer (padding left, pad = BOS,
	// as mergekit-moe saves it) and a generation_config.json whose EOS
	// agrees with it.
	CopyTokenizer bool
	// WriteConfigYAML writes the config's text to mergekit_moe_config.yml.
	WriteConfigYAML bool
	// Logger receives warnings and progress; nil means slog.Default().
	Logger *slog.Logger
	// Progress, if set, is called with the bytes written so far and the
	// total, from several goroutines.
	Progress func(done, total int64)
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Result describes a finished build.
type Result struct {
	Out          string   `json:"out"`
	Architecture string   `json:"architecture"`
	Experts      int      `json:"experts"`
	Tensors      int      `json:"tensors"`
	Shards       int      `json:"shards"`
	Bytes        int64    `json:"bytes"`
	Seconds      float64  `json:"seconds"`
	Warnings     []string `json:"warnings,omitempty"`
}

// chunkBytes bounds the bytes of one input read: large expert matrices
// stream through buffers of this size.
const chunkBytes = 16 << 20

// Build writes the MoE the plan describes into the existing directory dir:
// safetensors shards, config.json and the side files. Tensors stream from
// the inputs through buffers of a few MiB per thread; only the gates are
// computed before writing. On error dir may hold partial files: write into
// a staging directory and rename it on success.
func Build(ctx context.Context, pl *Plan, dir string, opt Options) (*Result, error) {
	start := time.Now()
	log := opt.logger()
	res := &Result{Out: dir, Architecture: pl.Class, Experts: len(pl.experts), Tensors: len(pl.Tensors), Warnings: append([]string(nil), pl.Warnings...)}
	gates, err := pl.Gates(ctx, opt)
	if err != nil {
		return nil, err
	}
	if bad := degenerateLayers(gates, pl.GateRows, pl.Hidden); len(bad) > 0 && pl.GateRows > 1 {
		w := fmt.Sprintf("the gates of layers %s have a condition number above 5: your prompts may be too similar for the router to tell the experts apart", layerList(bad))
		log.Warn(w)
		res.Warnings = append(res.Warnings, w)
	}
	specs := pl.Specs()
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{MaxShardSize: opt.ShardSize})
	if err != nil {
		return nil, err
	}
	total := pl.OutputBytes()
	var done atomic.Int64
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(threads)
	for i := range pl.Tensors {
		t := &pl.Tensors[i]
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			n, err := pl.writeTensor(w, t, gates, opt.Seed)
			if err != nil {
				return fmt.Errorf("write %s: %w", t.Name, err)
			}
			d := done.Add(n)
			if opt.Progress != nil {
				opt.Progress(d, total)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.Abort()
		return nil, err
	}
	if err := w.Close(); err != nil {
		w.Abort()
		return nil, err
	}
	res.Shards, res.Bytes = len(w.Shards()), total
	if err := pl.writeSideFiles(dir, opt); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// writeTensor writes one output tensor and returns its byte count.
func (pl *Plan) writeTensor(w *safetensors.Writer, t *Tensor, gates [][]float32, seed uint64) (int64, error) {
	out := pl.DType
	size := numel(t.Shape) * int64(out.Size())
	switch {
	case t.Gate:
		H := pl.Hidden
		vals := gates[t.Layer][t.Rows[0]*H : t.Rows[1]*H]
		buf := make([]byte, len(vals)*out.Size())
		if err := tensor.Encode(buf, vals, out); err != nil {
			return 0, err
		}
		return size, w.WriteTensor(t.Name, buf)
	case len(t.Pieces) == 0:
		// Zeros are all-zero bytes in every float dtype.
		buf := make([]byte, min(size, chunkBytes))
		for off := int64(0); off < size; off += int64(len(buf)) {
			n := min(int64(len(buf)), size-off)
			if err := w.WriteTensorPart(t.Name, off, buf[:n]); err != nil {
				return 0, err
			}
		}
		return size, nil
	}
	var off int64
	for _, p := range t.Pieces {
		n, err := pl.copyPiece(w, t.Name, off, p, seed)
		if err != nil {
			return 0, err
		}
		off += n
	}
	if off != size {
		return 0, fmt.Errorf("pieces hold %d bytes, the tensor %d", off, size)
	}
	return size, nil
}

// copyPiece streams one input tensor into the output at byte off,
// converting, scaling and perturbing it chunk by chunk.
func (pl *Plan) copyPiece(w *safetensors.Writer, name string, off int64, p Piece, seed uint64) (int64, error) {
	in, err := tensor.ParseDType(string(p.Info.DType))
	if err != nil {
		return 0, fmt.Errorf("%s of %s: %w", p.Name, p.Model.Ref.String(), err)
	}
	out := pl.DType
	count := p.Info.NumElements()
	step := int64(chunkBytes / max(in.Size(), out.Size(), 4))
	verbatim := in == out && p.Scale == 0 && p.Noise == 0
	var noise *rand.Rand
	if p.Noise != 0 {
		noise = noiseStream(seed, p)
	}
	src := make([]byte, min(count, step)*int64(in.Size()))
	var vals []float32
	var dst []byte
	if !verbatim {
		vals = make([]float32, min(count, step))
		dst = make([]byte, min(count, step)*int64(out.Size()))
	}
	for e := int64(0); e < count; e += step {
		n := min(step, count-e)
		s := src[:n*int64(in.Size())]
		if err := p.Model.Tensors.ReadTensorRange(p.Name, e*int64(in.Size()), s); err != nil {
			return 0, fmt.Errorf("read %s from %s: %w", p.Name, p.Model.Ref.String(), err)
		}
		if verbatim {
			if err := w.WriteTensorPart(name, off+e*int64(out.Size()), s); err != nil {
				return 0, err
			}
			continue
		}
		v := vals[:n]
		if err := tensor.Decode(v, s, in); err != nil {
			return 0, fmt.Errorf("%s of %s: %w", p.Name, p.Model.Ref.String(), err)
		}
		perturb(v, in, p, noise)
		d := dst[:n*int64(out.Size())]
		if err := tensor.Encode(d, v, out); err != nil {
			return 0, err
		}
		if err := w.WriteTensorPart(name, off+e*int64(out.Size()), d); err != nil {
			return 0, err
		}
	}
	return count * int64(out.Size()), nil
}

// perturb applies noise_scale and residual_scale as mergekit does, in the
// input's dtype: torch adds the noise and multiplies by the scale in
// float32 arithmetic and rounds each result to the tensor's dtype.
func perturb(v []float32, in tensor.DType, p Piece, noise *rand.Rand) {
	if noise != nil {
		for i := range v {
			v[i] += float32(noise.NormFloat64() * p.Noise)
		}
		roundTo(in, v)
	}
	if p.Scale != 0 {
		s := float32(p.Scale)
		for i := range v {
			v[i] *= s
		}
		roundTo(in, v)
	}
}

func roundTo(dt tensor.DType, v []float32) {
	if dt == tensor.BF16 || dt == tensor.F16 {
		tensor.Round(dt, v)
	}
}

// noiseStream is the Gaussian stream of one piece: keyed by the seed, the
// expert and the tensor name, so it is the same for any thread count.
func noiseStream(seed uint64, p Piece) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", p.Expert, p.Name)
	return rand.New(rand.NewPCG(seed^0x6e6f697365, h.Sum64()))
}
