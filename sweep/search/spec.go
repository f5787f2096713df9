// Package search finds nets that hold a target under a parameter budget:
// candidates drawn from a search file's space around a base net, each
// refused before any compute when its parameter count (from models' plan)
// is over the budget, trained on validation seeds and stopped early by
// asynchronous successive halving (ASHA): every run is an ordinary run of
// its candidate's full recipe, stopped at rungs (train's -stop-after) and
// resumed from its checkpoint when promoted, so a promoted run ends exactly
// as an uninterrupted one. The search's state (its candidates, their
// scores, its decisions) lives in its folder and is written after every
// change, so a stopped search goes on with the same decisions.
package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

// Spec is a search file: what may vary around a base net, the budget and
// the target, the seeds, how many candidates, and the early stopping.
//
//	{
//	  "base": "step3",
//	  "budget": 8442,
//	  "seeds": "1-2",
//	  "candidates": 24,
//	  "layers": {"1.out": [10, 12, 14], "4.p": [0, 0.05, 0.1]},
//	  "optional": [4],
//	  "recipe": {"lr": {"log": [0.03, 0.3]}, "batch_size": [32, 64], "ema": [0, 0.999]}
//	}
type Spec struct {
	// Base is a built-in net or an arch file (relative to the search file).
	Base string `json:"base"`
	// Budget is the most parameters a candidate may have; 0 is no limit.
	Budget int64 `json:"budget"`
	// Target is the validation accuracy (%) the last epochs are checked
	// against (default 99.4).
	Target float64 `json:"target"`
	// Holdout is the validation images held out of the training set
	// (default 5,000): the search never evaluates on the test set.
	Holdout int `json:"holdout"`
	// Seeds are the seeds each candidate trains on ("1-3", "1,4").
	Seeds string `json:"seeds"`
	// Candidates is how many candidates to train (those over the budget
	// and repeats are drawn again, and counted apart).
	Candidates int `json:"candidates"`
	// SampleSeed seeds the drawing of candidates (default 1).
	SampleSeed uint64 `json:"sample_seed"`
	// Rungs are the epochs after which runs stop to be compared (default
	// 1, 3, 9); the recipe's last epoch is the top rung.
	Rungs []int `json:"rungs"`
	// Eta is the reduction factor: the best 1/Eta of a rung go on (default 3).
	Eta int `json:"eta"`
	// Score ranks candidates at a rung: "val_acc" (the mean of the seeds'
	// validation accuracy, the default) or "val_loss" (their mean
	// validation loss).
	Score string `json:"score"`
	// Layers vary layers' options: "INDEX.OPTION" (INDEX 1-based, in the
	// base net) to a list of values.
	Layers map[string][]json.RawMessage `json:"layers"`
	// Optional lists layers (1-based) that a candidate may leave out.
	Optional []int `json:"optional"`
	// Recipe varies recipe fields (an arch file's names: "lr",
	// "batch_size"): a list of values, or {"log": [lo, hi]} or
	// {"range": [lo, hi]} for a number drawn log-uniformly or uniformly.
	Recipe map[string]json.RawMessage `json:"recipe"`
	// Set gives train flags for every run, one value each, as a sweep's
	// -set with one value ("subset": 2000 for a quick search); flags a
	// search sets itself are refused.
	Set map[string]json.RawMessage `json:"set"`
	// Final is the last step, -final: the best candidates again on fresh
	// seeds, on validation and then on the test set.
	Final Final `json:"final"`

	dir  string      // the search file's folder
	base models.Arch // Base, read
}

// Final is the search's last step.
type Final struct {
	Top       int    `json:"top"`        // candidates taken (default 3)
	Seeds     string `json:"seeds"`      // fresh validation seeds (default "101-110")
	TestSeeds string `json:"test_seeds"` // test-set seeds (default "201-210")
}

// Defaults of a search file's fields.
const (
	defaultHoldout = 5000
	defaultEta     = 3
	defaultTarget  = 99.4
	// MaxCandidates bounds a search's candidates.
	MaxCandidates = 10_000
)

// ReadSpec reads and checks a search file.
func ReadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseSpec(data, path, filepath.Dir(path))
}

// parseSpec checks a search file's text; name says where it came from in
// errors, and a base arch file is found relative to dir.
func parseSpec(data []byte, name, dir string) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %v", name, strings.TrimPrefix(err.Error(), "json: "))
	}
	s.dir = dir
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// check fills the defaults and refuses what no search can run.
func (s *Spec) check() error {
	if s.Base == "" {
		return errors.New(`"base" names no net (a built-in name or an arch file)`)
	}
	base := s.Base
	_, err := models.Lookup(base)
	file := err != nil
	if file && !filepath.IsAbs(base) {
		base = filepath.Join(s.dir, base)
	}
	if s.base, err = models.Resolve(base); err != nil {
		return fmt.Errorf("base: %v", err)
	}
	if file {
		// By its absolute path, so that the search's state names the file
		// wherever the search is continued from.
		if s.Base, err = filepath.Abs(base); err != nil {
			return err
		}
	}
	if s.Target == 0 {
		s.Target = defaultTarget
	}
	if s.Holdout == 0 {
		s.Holdout = defaultHoldout
	}
	if s.Eta == 0 {
		s.Eta = defaultEta
	}
	if s.SampleSeed == 0 {
		s.SampleSeed = 1
	}
	if len(s.Rungs) == 0 {
		s.Rungs = []int{1, 3, 9}
	}
	if s.Score == "" {
		s.Score = ScoreAcc
	}
	if s.Seeds == "" {
		s.Seeds = "1"
	}
	switch {
	case s.Budget < 0:
		return fmt.Errorf("budget must not be negative, got %d", s.Budget)
	case !(s.Target > 0 && s.Target <= 100):
		return fmt.Errorf("target must be a percentage in (0, 100], got %g", s.Target)
	case s.Holdout < 1:
		return fmt.Errorf("holdout must be at least 1: the search evaluates on validation images only, got %d", s.Holdout)
	case s.Candidates < 1 || s.Candidates > MaxCandidates:
		return fmt.Errorf("candidates must be in [1, %d], got %d", MaxCandidates, s.Candidates)
	case s.Eta < 2:
		return fmt.Errorf("eta must be at least 2, got %d", s.Eta)
	case s.Score != ScoreAcc && s.Score != ScoreLoss:
		return fmt.Errorf("score must be %q or %q, got %q", ScoreAcc, ScoreLoss, s.Score)
	}
	if _, err := s.SeedList(); err != nil {
		return err
	}
	for i, r := range s.Rungs {
		if r < 1 || (i > 0 && r <= s.Rungs[i-1]) {
			return fmt.Errorf("rungs must be increasing epochs from 1, got %v", s.Rungs)
		}
	}
	for _, l := range s.Optional {
		if l < 1 || l > len(s.base.Layers) {
			return fmt.Errorf("optional: layer %d is not in %s's %d layers", l, s.base.Name, len(s.base.Layers))
		}
	}
	if _, err := s.space(); err != nil {
		return err
	}
	if _, err := s.SetArgs(); err != nil {
		return err
	}
	return s.checkFinal()
}

// searchSets are the train flags a search gives its runs itself.
var searchSets = map[string]bool{"holdout": true, "target": true, "stop-after": true}

// SetArgs are the train flags of Set, in the order of their names.
func (s *Spec) SetArgs() ([]string, error) {
	var names []string
	for name := range s.Set {
		names = append(names, name)
	}
	sort.Strings(names)
	var args []string
	for _, name := range names {
		if searchSets[name] {
			return nil, fmt.Errorf("set: %s is the search's own (give it as the search file's %q)", name, name)
		}
		var v any
		if err := json.Unmarshal(s.Set[name], &v); err != nil {
			return nil, fmt.Errorf("set: %s: %v", name, err)
		}
		spec := grid.Spec{Archs: []string{"tiny"}, Seeds: []uint64{1}, Set: map[string][]string{name: {fmt.Sprint(v)}}}
		if _, err := spec.Expand(); err != nil {
			return nil, fmt.Errorf("set: %v", err)
		}
		args = append(args, "-"+name+"="+fmt.Sprint(v))
	}
	return args, nil
}

// checkFinal fills and checks the final step's settings.
func (s *Spec) checkFinal() error {
	if s.Final.Top == 0 {
		s.Final.Top = 3
	}
	if s.Final.Seeds == "" {
		s.Final.Seeds = "101-110"
	}
	if s.Final.TestSeeds == "" {
		s.Final.TestSeeds = "201-210"
	}
	if s.Final.Top < 1 {
		return fmt.Errorf("final.top must be at least 1, got %d", s.Final.Top)
	}
	for _, seeds := range []string{s.Final.Seeds, s.Final.TestSeeds} {
		if _, err := grid.ParseSeeds(seeds); err != nil {
			return fmt.Errorf("final: %v", err)
		}
	}
	return nil
}

// SeedList is the seeds each candidate trains on.
func (s *Spec) SeedList() ([]uint64, error) {
	seeds, err := grid.ParseSeeds(s.Seeds)
	if err != nil {
		return nil, fmt.Errorf("seeds: %v", err)
	}
	return seeds, nil
}

// Base is the base net, read.
func (s *Spec) BaseArch() models.Arch { return s.base }

// The scores a rung ranks by.
const (
	ScoreAcc  = "val_acc"
	ScoreLoss = "val_loss"
)

// dimension is one thing that varies: a layer's option, a layer present or
// absent, or a recipe field.
type dimension struct {
	name   string            // "1.out", "layer 4", "lr"
	values []json.RawMessage // a list to draw from; nil for a range
	lo, hi float64           // a range
	log    bool              // log-uniform
}

// space lists the dimensions in a fixed order (layers, optional layers,
// recipe fields, each sorted by name), so that a sample seed draws the same
// candidates everywhere.
func (s *Spec) space() ([]dimension, error) {
	var dims []dimension
	var names []string
	for name := range s.Layers {
		names = append(names, name)
	}
	sortLayerNames(names)
	for _, name := range names {
		idx, opt, ok := strings.Cut(name, ".")
		i, err := strconv.Atoi(idx)
		if !ok || err != nil || i < 1 || i > len(s.base.Layers) || opt == "" {
			return nil, fmt.Errorf("layers: %q is not INDEX.OPTION with INDEX a layer of %s (1 to %d)", name, s.base.Name, len(s.base.Layers))
		}
		if len(s.Layers[name]) == 0 {
			return nil, fmt.Errorf("layers: %q has no values", name)
		}
		// Every value must make a layer the table of kinds accepts.
		for _, v := range s.Layers[name] {
			if _, err := setOption(s.base.Layers[i-1], opt, v); err != nil {
				return nil, fmt.Errorf("layers: %s: %v", name, err)
			}
		}
		dims = append(dims, dimension{name: name, values: s.Layers[name]})
	}
	optional := append([]int{}, s.Optional...)
	sort.Ints(optional)
	for _, l := range optional {
		dims = append(dims, dimension{name: fmt.Sprintf("layer %d", l), values: []json.RawMessage{json.RawMessage("true"), json.RawMessage("false")}})
	}
	names = names[:0]
	for name := range s.Recipe {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d, err := recipeDimension(name, s.Recipe[name])
		if err != nil {
			return nil, fmt.Errorf("recipe: %s: %v", name, err)
		}
		dims = append(dims, d)
	}
	return dims, nil
}

// recipeDimension reads a recipe field's values: a list, or a range.
func recipeDimension(name string, raw json.RawMessage) (dimension, error) {
	d := dimension{name: name}
	known := false
	for _, f := range models.RecipeFields() {
		if strings.ReplaceAll(f.Flag, "-", "_") == name {
			known = true
		}
	}
	if !known {
		return d, errors.New("not a recipe field (an arch file's names: lr, batch_size, rotate, ...)")
	}
	if err := json.Unmarshal(raw, &d.values); err == nil {
		if len(d.values) == 0 {
			return d, errors.New("no values")
		}
		return d, nil
	}
	var r struct {
		Log   []float64 `json:"log"`
		Range []float64 `json:"range"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || (r.Log == nil) == (r.Range == nil) {
		return d, errors.New(`give a list of values, {"log": [lo, hi]} or {"range": [lo, hi]}`)
	}
	bounds := r.Range
	if r.Log != nil {
		bounds, d.log = r.Log, true
	}
	if len(bounds) != 2 || !(bounds[0] < bounds[1]) || math.IsInf(bounds[1], 0) || (d.log && bounds[0] <= 0) {
		return d, fmt.Errorf("the range %v must be [lo, hi] with lo < hi (and lo > 0 on a log scale)", bounds)
	}
	d.lo, d.hi = bounds[0], bounds[1]
	return d, nil
}

// sortLayerNames orders "INDEX.OPTION" names by index, then option.
func sortLayerNames(names []string) {
	sort.Slice(names, func(a, b int) bool {
		ia, oa, _ := strings.Cut(names[a], ".")
		ib, ob, _ := strings.Cut(names[b], ".")
		na, _ := strconv.Atoi(ia)
		nb, _ := strconv.Atoi(ib)
		if na != nb {
			return na < nb
		}
		return oa < ob
	})
}

// setOption is layer l with option name set to the JSON value v, read and
// checked as an arch file's layer is.
func setOption(l models.Layer, name string, v json.RawMessage) (models.Layer, error) {
	data, err := l.MarshalJSON()
	if err != nil {
		return l, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return l, err
	}
	fields[name] = v
	data, _ = json.Marshal(fields)
	var out models.Layer
	if err := out.UnmarshalJSON(data); err != nil {
		return l, err
	}
	return out, nil
}
