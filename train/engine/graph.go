package engine

import (
	"fmt"
	"math"

	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/transforms"
)

// graphWarmup is how many full-size steps run eagerly before the capture:
// they make the momentum buffers and the average's first copy, and let
// libtorch pick its kernels, so the captured step is a steady-state one.
const graphWarmup = 3

// graphStep trains with the whole step (forward, loss, tally, backward, the
// SGD update, the EMA update) captured once as a CUDA graph and replayed for
// every batch of the loader's full size, with one launch instead of a few
// hundred. The batch is copied into the captured input tensors; the learning
// rate and the EMA's weight live in device scalars the captured kernels read,
// so schedules need no new capture; dropout draws from libtorch's graph-safe
// CUDA generator and BatchNorm updates its running statistics inside the
// graph. A smaller batch (an epoch's last) and the warm-up steps run
// eagerly: they update the same tensors in place. The warm-up and the
// capture run on the run's locked OS thread, where libtorch keeps the cuBLAS
// and cuDNN handles the capture needs.
//
// With emulate set the step is never captured: each "replay" runs the
// captured body eagerly on the same static tensors. That is how the CPU
// tests check the graph's data flow (inputs, rates, tallies) against the
// plain step.
type graphStep struct {
	device  torch.Device
	batch   int
	emulate bool
	steps   int // full-size steps taken so far in this process

	x, y   *torch.Tensor // captured inputs
	lr     *torch.Tensor // the rate the optimizer reads
	weight *torch.Tensor // the EMA weight the average reads (nil without EMA)
	loss   *torch.Tensor // the captured step's loss
	graph  *torch.Graph
}

// newGraphStep makes the captured inputs and scalars on s's device and
// points s's optimizer and average at them.
func newGraphStep(s *stepper, batch, w, h int, emulate bool) (*graphStep, error) {
	g := &graphStep{device: s.device, batch: batch, emulate: emulate}
	ok := false
	defer func() {
		if !ok {
			g.close(s)
		}
	}()
	var err error
	if g.x, err = torch.FromSliceOn(make([]float32, batch*w*h), s.device, int64(batch), 1, int64(h), int64(w)); err != nil {
		return nil, err
	}
	if g.y, err = torch.FromSliceOn(make([]int64, batch), s.device, int64(batch)); err != nil {
		return nil, err
	}
	if g.lr, err = torch.FromSliceOn([]float32{0}, s.device); err != nil {
		return nil, err
	}
	if err := s.opt.ReadLRFrom(g.lr); err != nil {
		return nil, err
	}
	if s.ema != nil {
		if g.weight, err = torch.FromSliceOn([]float32{0}, s.device); err != nil {
			return nil, err
		}
		s.ema.ReadWeightFrom(g.weight)
	}
	ok = true
	return g, nil
}

// step trains on b: eagerly while warming up and for a batch of another
// size, else by replaying the graph (capturing it the first time). When read
// is set it reads the batch's loss and the running sum back afterwards.
func (g *graphStep) step(s *stepper, b *transforms.Batch, acc *torch.Tally, read bool) (float64, error) {
	if b.N != g.batch || g.steps < graphWarmup {
		if b.N == g.batch {
			g.steps++
		}
		return s.step(b, acc, read)
	}
	if err := torch.CopyFrom(g.x, b.X[:b.N*b.W*b.H]); err != nil {
		return 0, err
	}
	if err := torch.CopyFrom(g.y, b.Y[:b.N]); err != nil {
		return 0, err
	}
	if s.ema != nil {
		if err := s.ema.Prepare(); err != nil {
			return 0, err
		}
	}
	switch {
	case g.emulate:
		if err := g.body(s, acc); err != nil {
			return 0, err
		}
	case g.graph == nil:
		if err := g.capture(s, acc); err != nil {
			return 0, fmt.Errorf("capturing the training step as a CUDA graph: %w (-cuda-graphs=false trains without graphs)", err)
		}
		fallthrough
	default:
		if err := g.graph.Replay(); err != nil {
			return 0, err
		}
	}
	if s.ema != nil {
		s.ema.Counted()
	}
	g.steps++
	if !read {
		return math.NaN(), nil
	}
	return readLoss(g.loss, acc)
}

// capture records the body into a new graph; nothing runs until a replay.
func (g *graphStep) capture(s *stepper, acc *torch.Tally) error {
	graph, err := torch.NewGraph()
	if err != nil {
		return err
	}
	if err := graph.Capture(g.device, func() error { return g.body(s, acc) }); err != nil {
		graph.Close()
		return err
	}
	g.graph = graph
	return nil
}

// body is the captured step: the stepper's step body (the code the eager
// step runs) on the static inputs, keeping its detached loss for the read
// after the replay.
func (g *graphStep) body(s *stepper, acc *torch.Tally) error {
	kept, err := s.body(g.x, g.y, g.batch, acc, true, nil)
	if err != nil {
		return err
	}
	g.loss.Close()
	g.loss = kept
	return nil
}

// close frees the graph and its tensors and points the optimizer and the
// average back at plain numbers.
func (g *graphStep) close(s *stepper) {
	if s.opt != nil {
		_ = s.opt.ReadLRFrom(nil)
	}
	if s.ema != nil {
		s.ema.ReadWeightFrom(nil)
	}
	g.graph.Close()
	for _, t := range []*torch.Tensor{g.x, g.y, g.lr, g.weight, g.loss} {
		t.Close()
	}
}
