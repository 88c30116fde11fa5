package merge

import (
	"log/slog"

	"github.com/gomerge/gomerge/internal/outdir"
)

// ErrOutputRefused is matched (errors.Is) by the errors that refuse an
// output path before any weight is read: an output overlapping an input
// (symbolic links resolved), or an existing directory gomerge did not
// write without Options.Overwrite.
var ErrOutputRefused = outdir.ErrRefused

// outputDir is a command's output: files go into a hidden, locked
// staging directory beside final, which replaces final only when
// everything is written (package outdir).
type outputDir struct {
	*outdir.Dir
	final, tmp string
}

// newOutputDir opens the output for a run reading models and the extra
// input paths.
func newOutputDir(out, tool string, models []*SourceModel, extra []string, overwrite bool, log *slog.Logger) (*outputDir, error) {
	inputs := append([]string(nil), extra...)
	for _, m := range models {
		inputs = append(inputs, m.Dir)
		if m.AdapterDir != "" {
			inputs = append(inputs, m.AdapterDir)
		}
	}
	d, err := outdir.Create(out, outdir.Options{Inputs: inputs, Overwrite: overwrite, Tool: tool, Logger: log})
	if err != nil {
		return nil, err
	}
	return &outputDir{Dir: d, final: d.Final(), tmp: d.Tmp()}, nil
}

func (o *outputDir) path(name string) string                  { return o.Path(name) }
func (o *outputDir) commit() error                            { return o.Commit() }
func (o *outputDir) abort()                                   { o.Abort() }
func (o *outputDir) writeFile(name string, data []byte) error { return o.WriteFile(name, data) }
