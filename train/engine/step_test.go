package engine

import (
	"math"
	"testing"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
	"github.com/tinydigits/tinydigits/transforms"
)

// A training step's loss is the label-smoothed NLL of the net's output when
// -label-smoothing is set, and the plain NLL when it is not.
func TestStepLabelSmoothing(t *testing.T) {
	torch.ManualSeed(1)
	net, err := models.New("tiny") // no Dropout: the same batch gives the same output twice
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	net.Train(true)
	opt, _ := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: 0}) // lr 0: the weights stay put
	defer opt.Close()
	acc, _ := torch.NewTally(torch.CPU)
	defer acc.Close()

	b := &transforms.Batch{N: 4, W: 28, H: 28, Y: []int64{3, 1, 4, 1}, X: make([]float32, 4*28*28)}
	for i := range b.X {
		b.X[i] = float32(math.Sin(float64(i)))
	}
	x, _ := torch.FromSlice(b.X, b.Shape()...)
	defer x.Close()
	y, _ := torch.FromSlice(b.Y, 4)
	defer y.Close()
	out, err := net.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var losses []float64
	for _, eps := range []float64{0, 0.1} {
		want, _ := torch.NLLLossSmoothed(out, y, eps, torch.ReduceMean)
		w, _ := want.Item()
		want.Close()
		st := &stepper{net: net, opt: opt, device: torch.CPU, smoothing: eps}
		got, err := st.step(b, acc, true)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-w) > 1e-6 {
			t.Errorf("smoothing %g: step loss %v, want %v", eps, got, w)
		}
		losses = append(losses, got)
	}
	if losses[0] == losses[1] {
		t.Errorf("smoothing 0.1 gave the plain loss %v", losses[0])
	}
}
