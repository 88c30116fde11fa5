package leaderboard

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// shortRef is a model reference as tables show it: a directory's base
// name, a hub id as is, each part of a model+lora reference so (not the
// base name of the whole, which would show the LoRA alone).
func shortRef(ref string, byPath map[string]*Run) string {
	if r, ok := byPath[ref]; ok {
		return r.Name
	}
	if m, lora, ok := strings.Cut(ref, "+"); ok {
		return shortRef(m, byPath) + "+" + shortRef(lora, byPath)
	}
	if filepath.IsAbs(ref) {
		return filepath.Base(ref)
	}
	return ref
}

func childIndex(runs []Run) map[string]*Run {
	m := map[string]*Run{}
	for i := range runs {
		if runs[i].Model != nil {
			m[runs[i].Model.Path] = &runs[i]
		}
	}
	return m
}

// ranks numbers the done, scored runs in the order given (0 for the
// others), separately for each task set (Run.TaskKey): scores on
// different tasks do not compare. sets are the task sets of the ranked
// runs in order of first appearance.
func ranks(runs []Run) (rank []int, sets []string) {
	rank = make([]int, len(runs))
	next := map[string]int{}
	for i, r := range runs {
		if r.Score == nil || r.Status != StatusDone {
			continue
		}
		k := r.TaskKey()
		if _, ok := next[k]; !ok {
			sets = append(sets, k)
		}
		next[k]++
		rank[i] = next[k]
	}
	return rank, sets
}

// WriteTable writes the runs (in the order given: Runs ranks them) as an
// aligned text table. When the runs were scored on more than one task set
// (Run.TaskKey), each set is ranked on its own and a TASKS column says
// which set a run belongs to.
func WriteTable(w io.Writer, runs []Run) error {
	byPath := childIndex(runs)
	rank, sets := ranks(runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "RANK\tRUN\tNAME\tSCORE\tMETHOD\tSTATUS\tWEIGHTS\tPARENTS"
	if len(sets) > 1 {
		head += "\tTASKS"
	}
	fmt.Fprintln(tw, head)
	for i, r := range runs {
		rk, score := "-", "-"
		if rank[i] > 0 {
			rk, score = fmt.Sprint(rank[i]), fmt.Sprintf("%.6g", *r.Score)
		}
		weights := "-"
		if r.Model != nil {
			weights = "pruned"
			if r.Model.Weights {
				weights = "kept"
			}
		}
		parents := make([]string, len(r.Parents))
		for i, p := range r.Parents {
			parents[i] = shortRef(p, byPath)
		}
		status := r.Status
		if r.Error != "" {
			status += ": " + firstLine(r.Error, 60)
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s", rk, r.ID, r.Name, score, r.Method, status, weights, strings.Join(parents, " + "))
		if len(sets) > 1 {
			line += "\t" + cmp.Or(r.TaskKey(), "-")
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// methodColors are the per-method series colours of the plot.
var methodColors = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

// Plot draws the scored runs: each run's score by run number, one colour
// per method, and the best score so far as a line. Scores far below the
// pack (a merge with an unrelated model) are drawn at the bottom edge, so
// that they do not flatten the rest.
//
// Scores on different task sets (Run.TaskKey) do not compare, so when the
// runs were scored on several, only the set of the newest scored run is
// drawn, and the title says how many runs of other sets were left out.
func Plot(runs []Run) (*plot.Plot, error) {
	scored := slices.Clone(runs)
	scored = slices.DeleteFunc(scored, func(r Run) bool { return r.Score == nil || r.Status != StatusDone })
	slices.SortFunc(scored, func(a, b Run) int { return int(a.ID - b.ID) })
	p := plot.New()
	p.Title.Text = "automerge: score per run"
	p.X.Label.Text = "run"
	p.Y.Label.Text = "score (higher is better)"
	p.Add(plotter.NewGrid())
	if len(scored) == 0 {
		p.Title.Text += " (no scored runs yet)"
		return p, nil
	}
	if set := scored[len(scored)-1].TaskKey(); slices.ContainsFunc(scored, func(r Run) bool { return r.TaskKey() != set }) {
		all := len(scored)
		scored = slices.DeleteFunc(scored, func(r Run) bool { return r.TaskKey() != set })
		p.Title.Text += fmt.Sprintf(" (latest task set; %d runs scored on other tasks not drawn)", all-len(scored))
	}
	vals := make([]float64, len(scored))
	for i, r := range scored {
		vals[i] = *r.Score
	}
	// Scores that span orders of magnitude (perplexities of merges with
	// an unrelated model) are drawn on a signed log scale.
	tf := func(v float64) float64 { return v }
	if spread(vals) > 1e3 {
		tf = symlog
		p.Y.Tick.Marker = symlogTicks{}
		p.Y.Label.Text = "score, signed log scale (higher is better)"
	}
	for i := range vals {
		vals[i] = tf(vals[i])
	}
	sorted := slices.Sorted(slices.Values(vals))
	hi := sorted[len(sorted)-1]
	floor := sorted[len(sorted)/4]
	if span := hi - floor; span > 0 {
		floor -= span / 10
	} else {
		floor = hi - math.Max(1, math.Abs(hi)/10)
	}
	clipped := 0
	clip := func(v float64) float64 {
		if v < floor {
			clipped++
			return floor
		}
		return v
	}
	best := make(plotter.XYs, len(scored))
	top := math.Inf(-1)
	byMethod := map[string]plotter.XYs{}
	for i, r := range scored {
		top = max(top, vals[i])
		best[i] = plotter.XY{X: float64(r.ID), Y: top}
		byMethod[r.Method] = append(byMethod[r.Method], plotter.XY{X: float64(r.ID), Y: clip(vals[i])})
	}
	line, err := plotter.NewLine(best)
	if err != nil {
		return nil, err
	}
	line.LineStyle.Width = vg.Points(2)
	line.LineStyle.Color = color.RGBA{0, 0, 0, 255}
	p.Add(line)
	p.Legend.Add("best so far", line)
	for i, m := range slices.Sorted(func(yield func(string) bool) {
		for k := range byMethod {
			if !yield(k) {
				return
			}
		}
	}) {
		s, err := plotter.NewScatter(byMethod[m])
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Radius = vg.Points(4)
		s.GlyphStyle.Color = methodColors[i%len(methodColors)]
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(m, s)
	}
	// Right, a third of the way down: the best-so-far line runs along the
	// top and clipped runs along the bottom.
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = -1.4 * vg.Inch
	p.Y.Min = floor
	p.Y.Max = hi + (hi-floor)/20
	if clipped > 0 {
		p.Title.Text += fmt.Sprintf(" (%d runs below %.4g drawn on the bottom edge)", clipped, unsymlog(floor, tf))
	}
	return p, nil
}

// spread is the ratio of the largest to the smallest magnitude of vals.
func spread(vals []float64) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, v := range vals {
		a := math.Abs(v)
		lo, hi = min(lo, a), max(hi, a)
	}
	return hi / max(lo, 1e-9)
}

// symlog is sgn(v)·log10(1+|v|): a log scale that keeps the sign.
func symlog(v float64) float64 {
	return math.Copysign(math.Log10(1+math.Abs(v)), v)
}

// unsymlog maps a drawn value back to a score.
func unsymlog(y float64, tf func(float64) float64) float64 {
	if tf(10) == 10 {
		return y
	}
	return math.Copysign(math.Pow(10, math.Abs(y))-1, y)
}

// symlogTicks labels a symlog axis with the scores at whole powers of ten.
type symlogTicks struct{}

func (symlogTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, math.Ceil((hi-lo)/8))
	var ticks []plot.Tick
	for k := math.Ceil(lo/step) * step; k <= hi; k += step {
		label := "0"
		if k != 0 {
			label = fmt.Sprintf("%.0e", math.Copysign(math.Pow(10, math.Abs(k)), k))
		}
		ticks = append(ticks, plot.Tick{Value: k, Label: label})
	}
	if len(ticks) < 2 {
		for _, v := range []float64{lo, hi} {
			ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.3g", unsymlog(v, symlog))})
		}
	}
	return ticks
}

// PNG renders Plot as a PNG image.
func PNG(runs []Run) ([]byte, error) {
	p, err := Plot(runs)
	if err != nil {
		return nil, err
	}
	c := vgimg.PngCanvas{Canvas: vgimg.New(9*vg.Inch, 5*vg.Inch)}
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// htmlRow is a run as the HTML page shows it.
type htmlRow struct {
	Run
	Rank       int
	ScoreText  string
	ScoreSort  float64
	ParentText string
	Weights    string
	Lineage    []string
	Started    string
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}
p.meta{color:#666;margin:0 0 16px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.12)}
th,td{padding:6px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#243b55;color:#fff;cursor:pointer;user-select:none;white-space:nowrap}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td,tr.interrupted td{color:#999}
.status{display:inline-block;padding:1px 6px;border-radius:8px;font-size:12px;background:#e8f5e9;color:#1b5e20}
.status.failed{background:#ffebee;color:#b71c1c}.status.interrupted{background:#fff8e1;color:#8d6e00}.status.running{background:#e3f2fd;color:#0d47a1}
details summary{cursor:pointer;color:#1565c0}
pre{background:#f4f4f4;padding:8px;margin:4px 0;max-width:40em;white-space:pre-wrap;overflow-wrap:anywhere}
div.scroll{overflow-x:auto;max-width:100%;box-shadow:0 1px 3px rgba(0,0,0,.12)}
div.scroll>table{box-shadow:none}
ul.lineage{margin:4px 0;padding-left:18px}
img.plot{max-width:100%;background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.12);margin:16px 0}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="meta">{{len .Rows}} runs: {{.Done}} done, {{.Failed}} failed, {{.Interrupted}} interrupted · generated {{.Generated}} by gomerge leaderboard</p>
{{if gt (len .Sets) 1}}<p class="meta">Scored on {{len .Sets}} task sets, each ranked on its own: {{range $i, $s := .Sets}}{{if $i}}; {{end}}<b>{{$s}}</b>{{end}}</p>{{end}}
<img class="plot" alt="score per run, best so far, per method" src="{{.Plot}}">
<div class="scroll"><table id="board">
<thead><tr><th data-type="num">Rank</th><th data-type="num">Run</th><th>Name</th><th data-type="num">Score</th><th>Method</th><th>Status</th><th>Weights</th><th>Parents</th><th data-type="num">Eval s</th><th>Started</th><th>Recipe and lineage</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Status}}">
<td class="num" data-sort="{{if .Rank}}{{.Rank}}{{else}}999999{{end}}">{{if .Rank}}{{.Rank}}{{else}}–{{end}}</td>
<td class="num" data-sort="{{.ID}}">{{.ID}}</td>
<td>{{.Name}}</td>
<td class="num" data-sort="{{.ScoreSort}}">{{.ScoreText}}</td>
<td>{{.Method}}</td>
<td><span class="status {{.Status}}">{{.Status}}</span>{{if .Error}}<br><small>{{.Error}}</small>{{end}}</td>
<td>{{.Weights}}</td>
<td>{{.ParentText}}</td>
<td class="num" data-sort="{{.EvalSeconds}}">{{printf "%.2f" .EvalSeconds}}</td>
<td>{{.Started}}</td>
<td><details{{if eq .Rank 1}} open{{end}}><summary>recipe</summary>{{if .TaskKey}}<small>tasks: {{.TaskKey}}</small>{{end}}<pre>{{.Config}}</pre>
{{if .Scores}}<table>{{range .Scores}}<tr><td>{{.Task}}</td><td>{{.Metric}}</td><td class="num">{{printf "%.6g" .Value}}</td><td class="num">×{{.Weight}}</td></tr>{{end}}</table>{{end}}
{{if .Lineage}}<ul class="lineage">{{range .Lineage}}<li>{{.}}</li>{{end}}</ul>{{end}}</details></td>
</tr>
{{end}}</tbody></table></div>
<script>
document.querySelectorAll("#board > thead th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var tbody = document.querySelector("#board > tbody");
    var num = th.dataset.type === "num";
    var asc = !th.classList.contains("sorted-asc");
    document.querySelectorAll("#board > thead th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    var rows = Array.from(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort || a.cells[col].textContent;
      var y = b.cells[col].dataset.sort || b.cells[col].textContent;
      var c = num ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
  });
});
</script>
</body></html>
`))

// WriteHTML writes a self-contained page: the plot embedded as a data URI,
// a table sortable by clicking its headers, and each run's recipe, task
// scores and lineage.
func WriteHTML(w io.Writer, title string, runs []Run) error {
	png, err := PNG(runs)
	if err != nil {
		return err
	}
	byPath := childIndex(runs)
	data := struct {
		Title                     string
		Plot                      template.URL
		Rows                      []htmlRow
		Sets                      []string
		Done, Failed, Interrupted int
		Generated                 string
	}{Title: title, Plot: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		Generated: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	rank, sets := ranks(runs)
	data.Sets = sets
	for i, r := range runs {
		row := htmlRow{Run: r, ScoreText: "–", ScoreSort: math.Inf(-1), Weights: "–",
			Started: r.Started.UTC().Format("2006-01-02 15:04:05")}
		switch r.Status {
		case StatusDone:
			data.Done++
		case StatusFailed:
			data.Failed++
		case StatusInterrupted:
			data.Interrupted++
		}
		if rank[i] > 0 {
			row.Rank, row.ScoreText, row.ScoreSort = rank[i], fmt.Sprintf("%.6g", *r.Score), *r.Score
		}
		if math.IsInf(row.ScoreSort, -1) {
			row.ScoreSort = -math.MaxFloat64
		}
		if r.Model != nil {
			row.Weights = "pruned (card kept)"
			if r.Model.Weights {
				row.Weights = "kept: " + r.Model.Path
			}
		}
		parents := make([]string, len(r.Parents))
		for i, p := range r.Parents {
			parents[i] = shortRef(p, byPath)
		}
		row.ParentText = strings.Join(parents, " + ")
		row.Lineage = lineage(&r, byPath)
		data.Rows = append(data.Rows, row)
	}
	return page.Execute(w, data)
}

// lineage lists a run's ancestors, children of children first-level
// indented with arrows.
func lineage(run *Run, byPath map[string]*Run) []string {
	var out []string
	var walk func(r *Run, depth int, seen []int64)
	walk = func(r *Run, depth int, seen []int64) {
		for _, p := range r.Parents {
			prefix := strings.Repeat("↳ ", depth)
			child, ok := byPath[p]
			if !ok || slices.Contains(seen, child.ID) {
				out = append(out, prefix+shortRef(p, nil))
				continue
			}
			out = append(out, fmt.Sprintf("%s%s (run %d, %s)", prefix, child.Name, child.ID, child.Method))
			walk(child, depth+1, append(seen, child.ID))
		}
	}
	walk(run, 0, []int64{run.ID})
	return out
}
