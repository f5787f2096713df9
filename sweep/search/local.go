package search

import (
	"context"

	"github.com/tinydigits/tinydigits/sweep/grid"
	"github.com/tinydigits/tinydigits/sweep/pool"
)

// Local runs segments on this machine, in the sweep's pool: each an
// ordinary train process, pinned and watched as a sweep's runs are.
type Local struct {
	w     *pool.Workers
	segs  map[*pool.Task]Segment
	out   chan Outcome
	ended chan struct{}
}

// NewLocal starts a pool of opt.Jobs slots for the search in dir.
func NewLocal(ctx context.Context, dir string, opt pool.Options) (*Local, error) {
	w, err := pool.StartWorkers(ctx, dir, opt)
	if err != nil {
		return nil, err
	}
	l := &Local{w: w, segs: map[*pool.Task]Segment{}, out: make(chan Outcome), ended: make(chan struct{})}
	go func() {
		defer close(l.ended)
		for t := range l.w.Done() {
			unlock := l.w.Lock()
			g := l.segs[t]
			delete(l.segs, t)
			o := Outcome{Segment: g}
			switch t.Status {
			case pool.Paused, pool.Done:
				o.OK = true
			case pool.Stopped, pool.Waiting:
				o.Stopped = true
			default:
				o.Why = t.Err
			}
			unlock()
			l.out <- o
		}
	}()
	return l, nil
}

// Start runs the segment's run in a slot.
func (l *Local) Start(g Segment, run grid.Run) {
	t := &pool.Task{Run: run, StopAfter: g.StopAfter}
	unlock := l.w.Lock()
	l.segs[t] = g
	unlock()
	l.w.Start(t)
}

// Done delivers each segment's outcome.
func (l *Local) Done() <-chan Outcome { return l.out }

// Stop ends the pool's live view.
func (l *Local) Stop() { l.w.Stop() }
