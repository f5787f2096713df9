package torch

// #include "shim.h"
import "C"

import "runtime"

// Tally keeps a classifier's running loss sum and correct count as scalars
// on the device, so a training loop on a GPU reads them back (one host sync)
// only when it reports, not after every batch.
type Tally struct {
	loss, correct *Tensor
}

// NewTally makes a zeroed tally on device d.
func NewTally(d Device) (*Tally, error) {
	loss, err := FromSliceOn([]float64{0}, d)
	if err != nil {
		return nil, err
	}
	correct, err := FromSliceOn([]int64{0}, d)
	if err != nil {
		loss.Close()
		return nil, err
	}
	return &Tally{loss: loss, correct: correct}, nil
}

// Add counts a batch of n images: its mean loss (a scalar), the network's
// log-probabilities (n×classes) and the labels. It queues the work on the
// device and reads nothing back.
func (t *Tally) Add(loss, logp, labels *Tensor, n int) error {
	hs := make([]C.tt_tensor, 5)
	for i, x := range []*Tensor{t.loss, t.correct, loss, logp, labels} {
		h, err := x.handle()
		if err != nil {
			return err
		}
		hs[i] = h
	}
	err := check("tally", C.tt_tally_add(hs[0], hs[1], hs[2], hs[3], hs[4], C.int64_t(n)))
	runtime.KeepAlive(t)
	runtime.KeepAlive(loss)
	runtime.KeepAlive(logp)
	runtime.KeepAlive(labels)
	return err
}

// Read returns the summed loss and the correct count so far (this waits for
// the device).
func (t *Tally) Read() (loss float64, correct int, err error) {
	if loss, err = t.loss.Item(); err != nil {
		return 0, 0, err
	}
	c, err := t.correct.Item()
	return loss, int(c), err
}

// Zero sets both sums back to zero, in place (the tensors stay the same, so
// a captured CUDA graph that adds to them keeps working).
func (t *Tally) Zero() error {
	if err := t.loss.Fill(0); err != nil {
		return err
	}
	return t.correct.Fill(0)
}

// Close frees the tally's tensors (nil is fine).
func (t *Tally) Close() {
	if t == nil {
		return
	}
	t.loss.Close()
	t.correct.Close()
}
