package nn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/torch"
)

// Module is a network or a part of one.
//
// The tensors that NamedParameters, NamedBuffers and StateDict return belong
// to the module: they stay valid (and keep referring to the module's live
// values across To and training) until the module is closed, and callers must
// not close them.
type Module interface {
	// Forward runs the module; the caller closes the result.
	Forward(x *torch.Tensor) (*torch.Tensor, error)
	// NamedParameters lists the learnable tensors in a fixed order, with
	// PyTorch's names.
	NamedParameters() []torch.Named
	// NamedBuffers lists the tensors that are state but not learned.
	NamedBuffers() []torch.Named
	// StateDict lists parameters and buffers in PyTorch's state_dict order.
	StateDict() []torch.Named
	// Train switches training mode on (batch statistics, active dropout) or
	// off (eval mode).
	Train(on bool)
	// To moves parameters and buffers to a device, in place.
	To(d torch.Device) error
	// ToDType converts floating point parameters and buffers, in place.
	ToDType(dt torch.DType) error
	// Close frees the native modules and tensors.
	Close()
}

// Parameters returns m's parameters in order, for an optimizer.
func Parameters(m Module) []*torch.Tensor {
	named := m.NamedParameters()
	out := make([]*torch.Tensor, len(named))
	for i, n := range named {
		out[i] = n.Tensor
	}
	return out
}

// NumParams counts m's parameter elements, as
// sum(p.numel() for p in model.parameters()) does.
func NumParams(m Module) int64 {
	var n int64
	for _, p := range m.NamedParameters() {
		n += p.Tensor.NumEl()
	}
	return n
}

// Layer is one built libtorch module.
type Layer struct {
	Spec    Spec
	native  *torch.Module
	params  []torch.Named
	buffers []torch.Named
}

// New builds one layer from its spec, with libtorch's default initialisation.
func New(s Spec) (*Layer, error) {
	native, err := s.build()
	if err != nil {
		return nil, err
	}
	l := &Layer{Spec: s, native: native}
	if l.params, err = native.Parameters(); err == nil {
		l.buffers, err = native.Buffers()
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("nn: %v: %w", s, err)
	}
	return l, nil
}

// Forward runs the layer on x.
func (l *Layer) Forward(x *torch.Tensor) (*torch.Tensor, error) { return l.native.Forward(x) }

// NamedParameters lists the layer's parameters ("weight", "bias").
func (l *Layer) NamedParameters() []torch.Named { return l.params }

// NamedBuffers lists the layer's buffers ("running_mean", ...).
func (l *Layer) NamedBuffers() []torch.Named { return l.buffers }

// StateDict lists parameters then buffers, as PyTorch orders a module's own.
func (l *Layer) StateDict() []torch.Named {
	return append(append([]torch.Named{}, l.params...), l.buffers...)
}

// Train switches training or eval mode.
func (l *Layer) Train(on bool) { l.native.Train(on) }

// IsTraining reports the layer's mode.
func (l *Layer) IsTraining() bool { return l.native.IsTraining() }

// To moves the layer to d. Handles from NamedParameters stay valid:
// libtorch swaps the data under the same tensors.
func (l *Layer) To(d torch.Device) error { return l.native.To(d, -1) }

// ToDType converts the floating point parameters and buffers to dt.
func (l *Layer) ToDType(dt torch.DType) error {
	dev := torch.CPU
	if sd := l.StateDict(); len(sd) > 0 {
		dev = sd[0].Tensor.Device()
	}
	return l.native.To(dev, dt)
}

// Close frees the layer.
func (l *Layer) Close() {
	for _, n := range l.params {
		n.Tensor.Close()
	}
	for _, n := range l.buffers {
		n.Tensor.Close()
	}
	l.params, l.buffers = nil, nil
	l.native.Close()
}

// Sequential runs layers one after another (torch.nn.Sequential). Its names
// are PyTorch's: the layer's index, a dot, the layer's own name ("0.weight",
// "1.running_mean").
type Sequential struct {
	Layers []*Layer
}

// NewSequential builds the layers in order. On error it frees what it built.
func NewSequential(specs ...Spec) (*Sequential, error) {
	s := &Sequential{}
	for i, spec := range specs {
		l, err := New(spec)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("nn: layer %d: %w", i, err)
		}
		s.Layers = append(s.Layers, l)
	}
	return s, nil
}

// Forward runs x through every layer in one native call: the intermediate
// results stay in libtorch (autograd keeps what backward needs). The input
// is left to the caller.
func (s *Sequential) Forward(x *torch.Tensor) (*torch.Tensor, error) {
	return s.chain(x, false)
}

// Infer is Forward under libtorch's InferenceMode, which skips autograd
// entirely: for evaluation and prediction (put the network in eval mode
// first). Its output cannot take part in a backward pass.
func (s *Sequential) Infer(x *torch.Tensor) (*torch.Tensor, error) {
	return s.chain(x, true)
}

func (s *Sequential) chain(x *torch.Tensor, inference bool) (*torch.Tensor, error) {
	if len(s.Layers) == 0 {
		return x.Clone()
	}
	mods := make([]*torch.Module, len(s.Layers))
	for i, l := range s.Layers {
		mods[i] = l.native
	}
	out, err := torch.ForwardChain(mods, x, inference)
	if err != nil {
		// The shim names the layer: "layer 3: ..."; add its spec.
		var te *torch.Error
		if errors.As(err, &te) {
			if rest, ok := strings.CutPrefix(te.Msg, "layer "); ok {
				if n, _, ok := strings.Cut(rest, ":"); ok {
					if i, err2 := strconv.Atoi(n); err2 == nil && i < len(s.Layers) {
						return nil, fmt.Errorf("nn: layer %d, %v: %w", i, s.Layers[i].Spec, err)
					}
				}
			}
		}
		return nil, fmt.Errorf("nn: %w", err)
	}
	return out, nil
}

// ForwardEach runs the layers one call at a time and calls visit with each
// layer's output before it is freed (for summaries and shape traces); visit
// must not keep or close the tensor. Forward is faster.
func (s *Sequential) ForwardEach(x *torch.Tensor, visit func(i int, l *Layer, out *torch.Tensor)) (*torch.Tensor, error) {
	cur := x
	for i, l := range s.Layers {
		next, err := l.Forward(cur)
		if cur != x {
			cur.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("nn: layer %d, %v: %w", i, l.Spec, err)
		}
		if visit != nil {
			visit(i, l, next)
		}
		cur = next
	}
	if cur == x {
		// No layers: hand back a handle of the caller's own to close.
		return x.Clone()
	}
	return cur, nil
}

func (s *Sequential) prefixed(get func(*Layer) []torch.Named) []torch.Named {
	var out []torch.Named
	for i, l := range s.Layers {
		for _, n := range get(l) {
			out = append(out, torch.Named{Name: strconv.Itoa(i) + "." + n.Name, Tensor: n.Tensor})
		}
	}
	return out
}

// NamedParameters lists all parameters, layer by layer.
func (s *Sequential) NamedParameters() []torch.Named {
	return s.prefixed((*Layer).NamedParameters)
}

// NamedBuffers lists all buffers, layer by layer.
func (s *Sequential) NamedBuffers() []torch.Named { return s.prefixed((*Layer).NamedBuffers) }

// StateDict lists each layer's parameters then buffers, layer by layer.
func (s *Sequential) StateDict() []torch.Named { return s.prefixed((*Layer).StateDict) }

// Train switches every layer to training or eval mode.
func (s *Sequential) Train(on bool) {
	for _, l := range s.Layers {
		l.Train(on)
	}
}

// To moves every layer to d.
func (s *Sequential) To(d torch.Device) error {
	for i, l := range s.Layers {
		if err := l.To(d); err != nil {
			return fmt.Errorf("nn: layer %d: %w", i, err)
		}
	}
	return nil
}

// ToDType converts every layer's floating point tensors to dt.
func (s *Sequential) ToDType(dt torch.DType) error {
	for i, l := range s.Layers {
		if err := l.ToDType(dt); err != nil {
			return fmt.Errorf("nn: layer %d: %w", i, err)
		}
	}
	return nil
}

// Close frees every layer.
func (s *Sequential) Close() {
	for _, l := range s.Layers {
		l.Close()
	}
	s.Layers = nil
}

// NLLLoss is the mean negative log-likelihood of log-probabilities logp
// [N, C] at the int64 class indices target [N] (torch.nn.functional.nll_loss).
func NLLLoss(logp, target *torch.Tensor) (*torch.Tensor, error) {
	return torch.NLLLoss(logp, target, torch.ReduceMean)
}

// NLLLossSmoothed is the mean NLL loss with label smoothing eps (see
// torch.NLLLossSmoothed); eps 0 is NLLLoss.
func NLLLossSmoothed(logp, target *torch.Tensor, eps float64) (*torch.Tensor, error) {
	return torch.NLLLossSmoothed(logp, target, eps, torch.ReduceMean)
}

// CrossEntropy is the mean of NLLLoss(log_softmax(logits)) (torch.nn.functional.cross_entropy).
func CrossEntropy(logits, target *torch.Tensor) (*torch.Tensor, error) {
	return torch.CrossEntropy(logits, target, torch.ReduceMean)
}

// RecomputeBatchNorm sets the running statistics of every BatchNorm2d in s
// to their average over the batches that pass gives it, as PyTorch's
// torch.optim.swa_utils.update_bn does: the statistics are reset, each
// batch counts equally (momentum None), then the layers' momentum is set
// back. pass must run forward every batch; it runs in training mode
// without autograd, and s is left in eval mode. A net without BatchNorm is
// left alone and pass is not called.
func RecomputeBatchNorm(s *Sequential, pass func(forward func(x *torch.Tensor) error) error) error {
	var bns []*Layer
	for _, l := range s.Layers {
		if _, ok := l.Spec.(BatchNorm2d); ok {
			bns = append(bns, l)
		}
	}
	if len(bns) == 0 {
		return nil
	}
	for _, l := range bns {
		if err := l.native.BatchNormCumulative(); err != nil {
			return err
		}
	}
	s.Train(true)
	err := torch.NoGrad(func() error {
		return pass(func(x *torch.Tensor) error {
			out, err := s.Forward(x)
			out.Close()
			return err
		})
	})
	s.Train(false)
	for _, l := range bns {
		if e := l.native.EndBatchNormCumulative(l.Spec.(BatchNorm2d).momentum()); err == nil {
			err = e
		}
	}
	return err
}
