package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

// The files of a search folder.
const (
	StateFile     = "search.json"
	CandidatesDir = "candidates" // one arch file per candidate
)

// stateFormat names the layout of search.json.
const stateFormat = "tinydigits-search/1"

// State is a search's state, search.json: what was drawn, each
// candidate's rung and scores, and every decision in order. It is written
// after every change, so a stopped search goes on where it was, with the
// same decisions.
type State struct {
	Format string `json:"format"`
	// Spec is the search file as read: a search folder holds one search.
	Spec       json.RawMessage `json:"spec"`
	Draws      int             `json:"draws"`       // draws of the space so far
	OverBudget int             `json:"over_budget"` // draws refused for their parameters
	Repeats    int             `json:"repeats"`     // draws equal to an earlier candidate
	Invalid    int             `json:"invalid"`     // draws no net can be (shapes), with the first reason
	InvalidWhy string          `json:"invalid_why,omitempty"`
	Candidates []*Candidate    `json:"candidates"`
	Decisions  []Decision      `json:"decisions"`
	// Failed holds the candidates whose runs failed, with the reason.
	Failed map[string]string `json:"failed,omitempty"`
}

// Decision is one step of the search: a candidate started at the first
// rung, promoted to the next, or finished (its last rung reached).
type Decision struct {
	Kind      string  `json:"kind"` // "start", "promote", "reached", "failed"
	Candidate string  `json:"candidate"`
	Rung      int     `json:"rung"`            // the rung's index
	Score     float64 `json:"score,omitempty"` // the score that decided it
}

// Search is a search running in its folder.
type Search struct {
	Spec    *Spec
	Dir     string
	State   *State
	sampler *sampler
	seeds   []uint64
	rungs   []int // epochs; the last is the recipe's
	// pending are segments decided but not started yet; done counts each
	// candidate's seeds that finished its current rung.
	pending []Segment
	done    map[string]int
}

// OpenFolder opens the search a folder holds, from its own state (for a
// report or the final step on a search folder).
func OpenFolder(dir string) (*Search, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var st struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, StateFile), err)
	}
	spec, err := parseSpec(st.Spec, filepath.Join(dir, StateFile), os.TempDir())
	if err != nil {
		return nil, err
	}
	return Open(spec, dir)
}

// Segment is one run of a candidate, from where it stands to a rung.
type Segment struct {
	Candidate *Candidate
	Seed      uint64
	Rung      int
	// StopAfter is the rung's epoch, 0 at the top rung (the run ends).
	StopAfter int
}

// RunDir is the segment's run folder, relative to the search folder.
func (g Segment) RunDir() string { return filepath.Join(g.Candidate.ID, fmt.Sprintf("seed%d", g.Seed)) }

// Open opens the search of spec in dir: a new one, or the one the folder
// holds (which must be of the same search file), its unfinished segments
// queued again.
func Open(spec *Spec, dir string) (*Search, error) {
	s := &Search{Spec: spec, Dir: dir, done: map[string]int{}}
	var err error
	if s.seeds, err = spec.SeedList(); err != nil {
		return nil, err
	}
	if s.sampler, err = newSampler(spec); err != nil {
		return nil, err
	}
	if _, ok := s.recipeDims()["epochs"]; ok {
		return nil, errors.New(`recipe: "epochs" cannot vary in a search: the rungs are epochs of the recipe`)
	}
	epochs := spec.base.Recipe.Epochs
	for _, r := range spec.Rungs {
		if r < epochs {
			s.rungs = append(s.rungs, r)
		}
	}
	s.rungs = append(s.rungs, epochs)
	raw, _ := json.Marshal(spec)
	s.State = &State{Format: stateFormat, Spec: raw}
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, StateFile), err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("%s: format %q, this build reads %q", filepath.Join(dir, StateFile), st.Format, stateFormat)
	}
	var stored bytes.Buffer
	if json.Compact(&stored, st.Spec) != nil || stored.String() != string(raw) {
		return nil, fmt.Errorf("%s holds a search of another search file; use another folder (or the same file)", dir)
	}
	s.State = &st
	return s, s.requeue()
}

// recipeDims is the recipe fields the spec varies.
func (s *Search) recipeDims() map[string]bool {
	m := map[string]bool{}
	for name := range s.Spec.Recipe {
		m[name] = true
	}
	return m
}

// Rungs are the rungs' epochs; the last is the recipe's.
func (s *Search) Rungs() []int { return s.rungs }

// requeue queues again, after a restart, the segments that had not
// finished: those of candidates sent to a rung that not all their seeds
// reached (read from the run folders' metrics).
func (s *Search) requeue() error {
	for _, c := range s.State.Candidates {
		if c.Rung <= c.Reached || s.State.Failed[c.ID] != "" {
			continue
		}
		for _, seed := range s.seeds {
			seg := s.segment(c, seed, c.Rung)
			rows, err := runfolder.ReadMetrics(filepath.Join(s.Dir, seg.RunDir()))
			if err == nil && len(rows) >= s.rungs[c.Rung] {
				s.done[c.ID]++
				continue
			}
			s.pending = append(s.pending, seg)
		}
		if s.done[c.ID] == len(s.seeds) {
			if err := s.reach(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// segment is candidate c's run of seed up to rung.
func (s *Search) segment(c *Candidate, seed uint64, rung int) Segment {
	g := Segment{Candidate: c, Seed: seed, Rung: rung}
	if rung < len(s.rungs)-1 {
		g.StopAfter = s.rungs[rung]
	}
	return g
}

// Next is the segment to start in a slot that just freed, and false when
// there is none now: the segments already decided first, then a
// promotion (asynchronous successive halving: the highest rung first, a
// candidate in the best 1/η of those that finished its rung and not yet
// promoted), then a new candidate. running is how many segments are
// training: once none is and nothing else is left, a rung that promoted
// no one promotes its best (see closing).
func (s *Search) Next(running int) (Segment, bool, error) {
	if len(s.pending) == 0 {
		c := s.promotable()
		if c == nil {
			fresh, err := s.newCandidate()
			if err != nil {
				return Segment{}, false, err
			}
			if fresh != nil {
				s.State.Decisions = append(s.State.Decisions, Decision{Kind: "start", Candidate: fresh.ID})
				s.queue(fresh)
			} else if running == 0 {
				c = s.closing()
			}
		}
		if c != nil {
			s.State.Decisions = append(s.State.Decisions, Decision{Kind: "promote", Candidate: c.ID, Rung: c.Reached + 1, Score: s.score(c, c.Reached)})
			c.Rung = c.Reached + 1
			s.queue(c)
		}
	}
	if len(s.pending) == 0 {
		return Segment{}, false, nil
	}
	g := s.pending[0]
	s.pending = s.pending[1:]
	return g, true, s.Save()
}

// queue decides the segments of c's seeds to its rung.
func (s *Search) queue(c *Candidate) {
	s.done[c.ID] = 0
	for _, seed := range s.seeds {
		s.pending = append(s.pending, s.segment(c, seed, c.Rung))
	}
}

// promotable is the candidate to promote, or nil.
func (s *Search) promotable() *Candidate {
	for k := len(s.rungs) - 2; k >= 0; k-- {
		var finished []*Candidate
		for _, c := range s.State.Candidates {
			if c.Reached >= k && s.State.Failed[c.ID] == "" {
				finished = append(finished, c)
			}
		}
		s.rank(finished, k)
		for _, c := range finished[:len(finished)/s.Spec.Eta] {
			if c.Rung == k && c.Reached == k {
				return c
			}
		}
	}
	return nil
}

// closing is the promotion that ends a search whose rungs thinned out
// before the top: ⌊n/η⌋ is 0 at a rung that fewer than η candidates
// reached, so a finite search (12 candidates, η = 3, four rungs: 12, 4,
// 1, then 0) could end with no candidate trained to the end. When nothing
// else is left, the highest rung below the top from which no candidate
// went on promotes its best; done again at each end, the best goes on to
// the top. nil when every rung with candidates has promoted one.
func (s *Search) closing() *Candidate {
	for k := len(s.rungs) - 2; k >= 0; k-- {
		var at []*Candidate
		for _, c := range s.State.Candidates {
			if c.Rung > k && s.State.Failed[c.ID] == "" {
				return nil // rung k promoted someone, and so did every rung below
			}
			if c.Rung == k && c.Reached == k && s.State.Failed[c.ID] == "" {
				at = append(at, c)
			}
		}
		if len(at) > 0 {
			s.rank(at, k)
			return at[0]
		}
	}
	return nil
}

// rank orders candidates best first by their score at rung k, ties by ID.
func (s *Search) rank(cs []*Candidate, k int) {
	sort.SliceStable(cs, func(a, b int) bool {
		sa, sb := s.score(cs[a], k), s.score(cs[b], k)
		if sa != sb {
			return sa > sb
		}
		return cs[a].ID < cs[b].ID
	})
}

// score is c's score at rung k, higher better: the mean validation
// accuracy, or the negated mean validation loss.
func (s *Search) score(c *Candidate, k int) float64 {
	if k >= len(c.Scores) {
		return -1e300
	}
	if s.Spec.Score == ScoreLoss {
		return -c.Scores[k].Loss
	}
	return c.Scores[k].Acc
}

// newCandidate draws until a candidate within the budget and unlike every
// earlier one comes, writes its arch file and adds it; nil when the
// search has its candidates (or the space gives no more).
func (s *Search) newCandidate() (*Candidate, error) {
	if len(s.State.Candidates) >= s.Spec.Candidates {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, c := range s.State.Candidates {
		seen[key(c.Arch)] = true
	}
	for limit := s.State.Draws + 100*s.Spec.Candidates; s.State.Draws < limit; {
		values, a, err := s.sampler.draw(s.State.Draws)
		s.State.Draws++
		if err == nil {
			err = a.Check()
		}
		switch {
		case err != nil:
			s.State.Invalid++
			if s.State.InvalidWhy == "" {
				s.State.InvalidWhy = err.Error()
			}
			continue
		case s.Spec.Budget > 0 && a.Params() > s.Spec.Budget:
			s.State.OverBudget++
			continue
		case seen[key(a)]:
			s.State.Repeats++
			continue
		}
		c := &Candidate{ID: fmt.Sprintf("c%03d", len(s.State.Candidates)+1), Values: values, Params: a.Params(), Reached: -1}
		a.Name = c.ID
		a.Description = fmt.Sprintf("%s with %s", s.Spec.base.Name, describe(s.sampler.dims, values))
		c.Arch = a
		if err := os.MkdirAll(filepath.Join(s.Dir, CandidatesDir), 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(s.archFile(c), a.MarshalFile()); err != nil {
			return nil, err
		}
		s.State.Candidates = append(s.State.Candidates, c)
		return c, nil
	}
	return nil, nil
}

// archFile is candidate c's arch file.
func (s *Search) archFile(c *Candidate) string {
	return filepath.Join(s.Dir, CandidatesDir, c.ID+".json")
}

// Args are the train flags of a segment's run, as a sweep's run gives them
// (the pool adds the folder, threads and device).
func (s *Search) Args(g Segment) []string {
	abs, err := filepath.Abs(s.archFile(g.Candidate))
	if err != nil {
		abs = s.archFile(g.Candidate)
	}
	set, _ := s.Spec.SetArgs() // checked by ReadSpec
	args := []string{"-arch", abs, "-holdout", strconv.Itoa(s.Spec.Holdout), "-target", strconv.FormatFloat(s.Spec.Target, 'g', -1, 64)}
	args = append(args, set...)
	return append(args, "-seed", strconv.FormatUint(g.Seed, 10))
}

// Run is the segment as a sweep's run.
func (s *Search) Run(g Segment) grid.Run {
	return grid.Run{Config: g.Candidate.ID, Arch: s.archFile(g.Candidate), Seed: g.Seed, Dir: g.RunDir(), Args: s.Args(g)}
}

// Finished takes a segment's outcome: ok when its run reached the rung.
// When every seed of its candidate has, the candidate is scored at the
// rung. A failed run fails its candidate.
func (s *Search) Finished(g Segment, ok bool, why string) error {
	c := g.Candidate
	if !ok {
		if s.State.Failed == nil {
			s.State.Failed = map[string]string{}
		}
		if s.State.Failed[c.ID] == "" {
			s.State.Failed[c.ID] = fmt.Sprintf("%s: %s", g.RunDir(), why)
			s.State.Decisions = append(s.State.Decisions, Decision{Kind: "failed", Candidate: c.ID, Rung: g.Rung})
			s.pending = slices.DeleteFunc(s.pending, func(p Segment) bool { return p.Candidate == c })
		}
		return s.Save()
	}
	s.done[c.ID]++
	if s.done[c.ID] == len(s.seeds) {
		if err := s.reach(c); err != nil {
			return err
		}
	}
	return s.Save()
}

// reach scores c at its rung, from its runs' metrics.
func (s *Search) reach(c *Candidate) error {
	epoch := s.rungs[c.Rung]
	sc := Score{Epoch: epoch, Lowest: 101}
	for _, seed := range s.seeds {
		dir := filepath.Join(s.Dir, s.segment(c, seed, c.Rung).RunDir())
		rows, err := runfolder.ReadMetrics(dir)
		if err != nil {
			return fmt.Errorf("search: %s: %w", c.ID, err)
		}
		if len(rows) < epoch {
			return fmt.Errorf("search: %s holds %d epochs, not the rung's %d", dir, len(rows), epoch)
		}
		m := rows[epoch-1]
		sc.Acc += m.TestAcc / float64(len(s.seeds))
		sc.Loss += m.TestLoss / float64(len(s.seeds))
		sc.Lowest = min(sc.Lowest, m.TestAcc)
	}
	c.Scores = append(c.Scores[:c.Rung], sc)
	c.Reached = c.Rung
	s.State.Decisions = append(s.State.Decisions, Decision{Kind: "reached", Candidate: c.ID, Rung: c.Rung, Score: s.score(c, c.Rung)})
	return nil
}

// Save writes search.json atomically.
func (s *Search) Save() error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s.State, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.Dir, StateFile), append(data, '\n'))
}

// Executor runs segments: here in a pool, or on a cluster.
type Executor interface {
	// Start runs the segment's run; its outcome comes out of Done.
	Start(g Segment, run grid.Run)
	Done() <-chan Outcome
}

// Outcome is how a segment's run ended.
type Outcome struct {
	Segment Segment
	OK      bool   // it reached its rung (or its end)
	Stopped bool   // a signal stopped it: the next search resumes it
	Why     string // for a failure
}

// Drive runs the search to its end on ex, jobs runs at a time: each freed
// slot gets the next segment, each outcome updates the state before the
// next decision. A cancelled ctx stops starting segments; Drive returns
// once the running ones have ended, with ctx.Err().
func (s *Search) Drive(ctx context.Context, ex Executor, jobs int) error {
	running := 0
	for {
		for ctx.Err() == nil && running < jobs {
			g, ok, err := s.Next(running)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			ex.Start(g, s.Run(g))
			running++
		}
		if running == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			return s.Save()
		}
		o := <-ex.Done()
		running--
		if o.Stopped {
			s.pending = append([]Segment{o.Segment}, s.pending...)
			continue
		}
		if err := s.Finished(o.Segment, o.OK, o.Why); err != nil {
			return err
		}
	}
}

// Best are the candidates ranked for the final step: those that reached
// the highest rung first, each rung's by its score.
func (s *Search) Best() []*Candidate {
	var out []*Candidate
	for k := len(s.rungs) - 1; k >= 0; k-- {
		var at []*Candidate
		for _, c := range s.State.Candidates {
			if c.Reached == k && s.State.Failed[c.ID] == "" {
				at = append(at, c)
			}
		}
		s.rank(at, k)
		out = append(out, at...)
	}
	return out
}

// EpochsTrained is the epochs the search's runs trained, and what the
// full grid of the same candidates would have cost (every seed to the
// recipe's end).
func (s *Search) EpochsTrained() (spent, full int) {
	top := s.rungs[len(s.rungs)-1]
	for _, c := range s.State.Candidates {
		for _, seed := range s.seeds {
			rows, err := runfolder.ReadMetrics(filepath.Join(s.Dir, s.segment(c, seed, 0).RunDir()))
			if err == nil {
				spent += len(rows)
			}
		}
		full += top * len(s.seeds)
	}
	return spent, full
}

// Top is the top rung's index.
func (s *Search) Top() int { return len(s.rungs) - 1 }

// Preview lists the first n draws of the space: each candidate's
// parameters and values, or why it would not be trained.
func (s *Search) Preview(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		values, a, err := s.sampler.draw(i)
		what := describe(s.sampler.dims, values)
		if err == nil {
			err = a.Check()
		}
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("draw %d: no net (%v): %s", i+1, err, what))
		case s.Spec.Budget > 0 && a.Params() > s.Spec.Budget:
			out = append(out, fmt.Sprintf("draw %d: %d parameters, over the budget: %s", i+1, a.Params(), what))
		default:
			out = append(out, fmt.Sprintf("draw %d: %d parameters: %s", i+1, a.Params(), what))
		}
	}
	return out
}
