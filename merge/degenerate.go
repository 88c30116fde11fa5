package merge

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/gomerge/gomerge/tensor"
)

// ErrDegenerate is wrapped by the *ConfigError NewPlan returns when a
// tensor's parameters, as the config resolves them for it, make the merge
// meaningless: a parameter that is not a finite number (NaN or ±Inf, which
// make most methods write NaN), a weight that overflows the working dtype,
// or weights that a method divides by and that sum to zero (NaN or
// infinite output). mergekit computes such outputs and reports success;
// PlanOptions.AllowDegenerate turns the error into a warning.
var ErrDegenerate = errors.New("degenerate merge parameters")

// paramOrigin is where the per-model parameters of one task input come
// from: its slice source and the input tensor name they were resolved for.
type paramOrigin struct {
	src  planSource
	name string
}

// lookupParam is evalFirst that also returns where the value is written.
func lookupParam(levels []Params, name, tensorName string, t float64) (float64, Pos, bool) {
	for _, ps := range levels {
		s, ok := ps.Get(name)
		if !ok {
			continue
		}
		if v, ok := s.Eval(tensorName, t); ok {
			return v, s.valuePos(tensorName), true
		}
	}
	return 0, Pos{}, false
}

// valuePos is the position of the value Eval picks for tensorName: the
// matching entry of a conditional list, else the setting's own.
func (s Setting) valuePos(name string) Pos {
	if s.Kind != Conditional {
		return s.Pos
	}
	for _, c := range s.Conds {
		if !c.HasFilter || c.Filter == "*" || name != "" && strings.Contains(name, c.Filter) {
			if c.Value.Pos.Line > 0 {
				return c.Value.Pos
			}
			return c.Pos
		}
	}
	return s.Pos
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkDegenerate refuses, or with AllowDegenerate records, a task whose
// parameters as the config resolves them make its output NaN, infinite
// or meaningless (see ErrDegenerate).
func (p *planner) checkDegenerate(task *Task, s *planSlice, origin map[*SourceModel]paramOrigin, t float64) error {
	pos, msg := p.nonFiniteParam(task, s, origin, t)
	if msg == "" && p.method.WeightSum != nil {
		pos, msg = p.zeroWeightSum(task, s, origin, t)
	}
	if msg == "" {
		return nil
	}
	msg = fmt.Sprintf("%s: %v: %s", p.method.Name, ErrDegenerate, msg)
	if !p.opt.AllowDegenerate {
		return &ConfigError{File: p.cfg.File, Pos: pos, Err: ErrDegenerate,
			Msg: msg + " (mergekit merges it anyway; pass --allow-degenerate to do the same)"}
	}
	if p.degenerateCount == 0 {
		p.degenerate = msg
		if at := p.posString(pos); at != "" {
			p.degenerate = at + ": " + msg
		}
	}
	p.degenerateCount++
	return nil
}

// nonFiniteParam finds a parameter the config sets to NaN or ±Inf for the
// task, or a weight that overflows the working dtype. Only values the
// config sets are examined (passthrough's default scale is NaN), and not
// the base's per-model values where the method ignores them.
func (p *planner) nonFiniteParam(task *Task, s *planSlice, origin map[*SourceModel]paramOrigin, t float64) (Pos, string) {
	for _, prm := range p.method.Global {
		v, at, ok := lookupParam([]Params{s.params, p.cfg.Parameters}, prm.Name, task.Name, t)
		if ok && !finite(v) {
			return at, fmt.Sprintf("parameter %q is %v for tensor %s, not a finite number", prm.Name, v, task.Name)
		}
	}
	for i, in := range task.Inputs {
		if i == task.Base && p.method.Base != BaseNotSpecial {
			continue
		}
		o := origin[in.Model]
		for _, prm := range p.method.PerModel {
			v, at, ok := lookupParam([]Params{o.src.params, s.params, p.cfg.Parameters}, prm.Name, o.name, t)
			switch {
			case !ok:
			case !finite(v):
				return at, fmt.Sprintf("parameter %q of model %s is %v for tensor %s, not a finite number", prm.Name, in.Model.Ref.String(), v, task.Name)
			case prm.Name == "weight" && !finite(float64(tensor.RoundScalar(task.Work, float32(v)))):
				return at, fmt.Sprintf("weight %v of model %s overflows %s, the working dtype of tensor %s", v, in.Model.Ref.String(), task.Work, task.Name)
			}
		}
	}
	return Pos{}, ""
}

// zeroWeightSum checks the inputs whose weights the method divides by the
// sum of: it reproduces the sum as Merge computes it (each weight rounded
// to the working dtype, summed in float32, rounded again).
func (p *planner) zeroWeightSum(task *Task, s *planSlice, origin map[*SourceModel]paramOrigin, t float64) (Pos, string) {
	idx := p.method.WeightSum(task)
	if len(idx) == 0 {
		return Pos{}, ""
	}
	var sum float32
	var terms []string
	var first Pos
	for _, i := range idx {
		in := task.Inputs[i]
		w := tensor.RoundScalar(task.Work, float32(in.Params["weight"]))
		sum += w
		o := origin[in.Model]
		_, at, _ := lookupParam([]Params{o.src.params, s.params, p.cfg.Parameters}, "weight", o.name, t)
		if at.Line == 0 {
			at = o.src.pos
		}
		if first.Line == 0 {
			first = at
		}
		terms = append(terms, fmt.Sprintf("%s %v (line %d)", in.Model.Ref.String(), in.Params["weight"], at.Line))
	}
	div := tensor.RoundScalar(task.Work, sum)
	if div != 0 && finite(float64(div)) {
		return Pos{}, ""
	}
	if first.Line == 0 {
		first = p.cfg.MergeMethodPos
	}
	return first, fmt.Sprintf("the weights of tensor %s sum to %v in %s (%s) and the method divides by their sum, so the output would be NaN or infinite; make them sum to non-zero or turn normalisation off",
		task.Name, div, task.Work, strings.Join(terms, ", "))
}

// finishDegenerate reports the tensors AllowDegenerate let through.
func (p *planner) finishDegenerate() error {
	switch {
	case p.degenerateCount == 1:
		p.warnf("%s; merged anyway (--allow-degenerate)", p.degenerate)
	case p.degenerateCount > 1:
		p.warnf("%s; merged anyway (--allow-degenerate), with %d more tensors alike", p.degenerate, p.degenerateCount-1)
	}
	return nil
}
