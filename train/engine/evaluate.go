package engine

import (
	"context"
	"fmt"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/transforms"
)

// evalDetail is one evaluation's prediction for every test image, in the
// test set's order.
type evalDetail struct {
	labels, preds []uint8
	probs         []float32 // the predicted class's probability
}

func (d *evalDetail) confusion() (m [mnist.Classes][mnist.Classes]int) {
	for i, l := range d.labels {
		m[l][d.preds[i]]++
	}
	return m
}

// confusionRows is the confusion matrix as rows of true classes.
func (d *evalDetail) confusionRows() [][]int {
	m := d.confusion()
	rows := make([][]int, mnist.Classes)
	for i := range rows {
		rows[i] = m[i][:]
	}
	return rows
}

// classAccuracy is each digit's accuracy in percent.
func (d *evalDetail) classAccuracy() []float64 {
	m := d.confusion()
	acc := make([]float64, mnist.Classes)
	for c := range acc {
		total := 0
		for _, n := range m[c] {
			total += n
		}
		if total > 0 {
			acc[c] = 100 * float64(m[c][c]) / float64(total)
		}
	}
	return acc
}

// evaluate runs the test set in eval mode without autograd. The loss is
// summed over images, as pytorch/examples' test loop does. Every batch's
// log-probabilities and loss stay on the device until the last batch is
// queued, then come back for the count, the pictures and the confusion
// matrix (one wait for a GPU, not one per batch). A cancelled context stops
// it at the next batch with ctx's error.
func (s *stepper) evaluate(ctx context.Context, net *nn.Sequential, l *transforms.Loader, dry bool) (tally, *evalDetail, error) {
	net.Train(false)
	p := &evalPass{net: net, hook: s.evalHook}
	defer p.close()
	err := torch.NoGrad(func() error {
		if s.evalCache != nil && !dry {
			return p.forwardAll(ctx, s.evalCache)
		}
		return s.evalFromLoader(ctx, l, dry, p)
	})
	if err != nil {
		return tally{}, &evalDetail{}, err
	}
	return p.readBack()
}

// evalFromLoader runs the evaluation batches from the loader through p,
// keeping them on the device when the stepper caches them (a GPU's) and
// the pass went through every batch.
func (s *stepper) evalFromLoader(ctx context.Context, l *transforms.Loader, dry bool, p *evalPass) error {
	it := l.Epoch(0)
	defer it.Close()
	keep := s.cacheEval && !dry
	var cache []evalInput // kept on the device when complete
	defer func() {
		for _, c := range cache {
			c.x.Close()
			c.y.Close()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, ok := it.Next()
		if !ok {
			if keep {
				s.evalCache, cache = cache, nil
			}
			return nil
		}
		x, y, err := toDevice(b, s.device)
		if err != nil {
			return fmt.Errorf("evaluation: %w", err)
		}
		in := evalInput{x: x, y: y, labels: make([]uint8, b.N)}
		for i := range in.labels {
			in.labels[i] = uint8(b.Y[i])
		}
		err = p.forward(b.Index, in)
		if keep && err == nil {
			cache = append(cache, in)
		} else {
			x.Close()
			y.Close()
		}
		if err != nil || dry {
			return err
		}
	}
}

// evalPass is one evaluation: forward passes queued on the device and read
// back once, at the end.
type evalPass struct {
	net    *nn.Sequential
	hook   func(batch int)
	queued []pendingEval
}

// pendingEval is one batch's log-probabilities and summed loss, not yet
// read back.
type pendingEval struct {
	out, loss *torch.Tensor
	labels    []uint8
}

// forward queues one batch's forward pass.
func (p *evalPass) forward(index int, in evalInput) error {
	out, err := p.net.Infer(in.x)
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	loss, err := torch.NLLLoss(out, in.y, torch.ReduceSum)
	if err != nil {
		out.Close()
		return fmt.Errorf("evaluation: %w", err)
	}
	p.queued = append(p.queued, pendingEval{out, loss, in.labels})
	if p.hook != nil {
		p.hook(index)
	}
	return nil
}

// forwardAll queues the forward passes of batches already on the device.
func (p *evalPass) forwardAll(ctx context.Context, batches []evalInput) error {
	for i, in := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.forward(i, in); err != nil {
			return err
		}
	}
	return nil
}

// readBack reads every queued batch back and tallies the pass.
func (p *evalPass) readBack() (tally, *evalDetail, error) {
	var t tally
	d := &evalDetail{}
	for _, q := range p.queued {
		lv, err := q.loss.Item()
		if err != nil {
			return t, d, fmt.Errorf("evaluation: %w", err)
		}
		logp, err := q.out.Float32s()
		if err != nil {
			return t, d, fmt.Errorf("evaluation: %w", err)
		}
		t.loss += lv
		t.seen += len(q.labels)
		d.add(logp, q.labels)
	}
	for i, l := range d.labels {
		if d.preds[i] == l {
			t.correct++
		}
	}
	return t, d, nil
}

// close frees what the pass queued.
func (p *evalPass) close() {
	for _, q := range p.queued {
		q.out.Close()
		q.loss.Close()
	}
	p.queued = nil
}
