package torch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/torch"
)

// keep is the binding's test helper (internal/torchtest).
var keep = torchtest.Keep

func TestFromSliceRoundTrip(t *testing.T) {
	f := keep(t)(torch.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
	if got := f.Shape(); !slices.Equal(got, []int64{2, 3}) {
		t.Errorf("shape = %v, want [2 3]", got)
	}
	if f.DType() != torch.Float32 || f.Device() != torch.CPU || f.NumEl() != 6 {
		t.Errorf("got %v, numel %d", f, f.NumEl())
	}
	vals, err := f.Float32s()
	if err != nil || !slices.Equal(vals, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Float32s = %v, %v", vals, err)
	}

	i := keep(t)(torch.FromSlice([]int64{-3, 1 << 40}, 2))
	if iv, _ := i.Int64s(); !slices.Equal(iv, []int64{-3, 1 << 40}) || i.DType() != torch.Int64 {
		t.Errorf("int64 round trip = %v (%v)", iv, i.DType())
	}
	u := keep(t)(torch.FromSlice([]uint8{0, 128, 255}, 1, 3))
	if uv, _ := u.Uint8s(); !slices.Equal(uv, []uint8{0, 128, 255}) || u.DType() != torch.Uint8 {
		t.Errorf("uint8 round trip = %v (%v)", uv, u.DType())
	}
	// Reading converts: uint8 → float32.
	if fv, _ := u.Float32s(); !slices.Equal(fv, []float32{0, 128, 255}) {
		t.Errorf("uint8 as float32 = %v", fv)
	}
	// A scalar has no shape.
	s := keep(t)(torch.FromSlice([]float64{2.5}))
	if v, err := s.Item(); err != nil || v != 2.5 || len(s.Shape()) != 0 {
		t.Errorf("scalar item = %v, %v, shape %v", v, err, s.Shape())
	}
	// The tensor owns a copy: changing the slice afterwards changes nothing.
	src := []float32{7, 8}
	c := keep(t)(torch.FromSlice(src, 2))
	src[0] = 0
	if cv, _ := c.Float32s(); cv[0] != 7 {
		t.Errorf("tensor shares Go memory: %v", cv)
	}
}

func TestFromSliceShapeMismatch(t *testing.T) {
	for _, shape := range [][]int64{{2, 2}, {5}, {-1, -3}, {}} {
		x, err := torch.FromSlice([]float32{1, 2, 3}, shape...)
		if err == nil {
			x.Close()
			t.Errorf("shape %v accepted 3 values", shape)
		}
	}
}

func TestCopyFromAndAssign(t *testing.T) {
	x := keep(t)(torch.Zeros(torch.Float32, 2, 2))
	if err := torch.CopyFrom(x, []float64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.Float32s(); !slices.Equal(v, []float32{1, 2, 3, 4}) {
		t.Errorf("after CopyFrom: %v", v)
	}
	if err := torch.CopyFrom(x, []float32{1, 2, 3}); err == nil {
		t.Error("CopyFrom of 3 values into 4 elements succeeded")
	}
	y := keep(t)(torch.FromSlice([]int64{9, 8, 7, 6}, 2, 2))
	if err := x.Assign(y); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.Float32s(); !slices.Equal(v, []float32{9, 8, 7, 6}) {
		t.Errorf("after Assign: %v", v)
	}
	z := keep(t)(torch.Zeros(torch.Float32, 4))
	if err := x.Assign(z); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("Assign of a [4] into a [2 2]: %v", err)
	}
}

func TestOps(t *testing.T) {
	scores := keep(t)(torch.FromSlice([]float32{
		0.1, 0.7, 0.2,
		0.9, 0.05, 0.05,
		0.3, 0.3, 0.4,
		0.2, 0.5, 0.3,
	}, 4, 3))
	pred := keep(t)(scores.Argmax(1, false))
	if v, _ := pred.Int64s(); !slices.Equal(v, []int64{1, 0, 2, 1}) {
		t.Errorf("argmax = %v", v)
	}
	labels := keep(t)(torch.FromSlice([]int64{1, 0, 0, 1}, 4))
	eq := keep(t)(pred.Eq(labels))
	if eq.DType() != torch.Bool {
		t.Errorf("eq dtype = %v", eq.DType())
	}
	sum := keep(t)(eq.Sum())
	if v, err := sum.Item(); err != nil || v != 3 {
		t.Errorf("correct = %v, %v; want 3", v, err)
	}
	mean := keep(t)(scores.Mean())
	if v, _ := mean.Item(); math.Abs(v-4.0/12) > 1e-6 {
		t.Errorf("mean = %v, want %v", v, 4.0/12)
	}
	d := keep(t)(scores.ToDType(torch.Float64))
	if d.DType() != torch.Float64 {
		t.Errorf("ToDType: %v", d.DType())
	}
	moved := keep(t)(scores.To(torch.CPU))
	if moved.Device() != torch.CPU {
		t.Errorf("To(cpu): %v", moved.Device())
	}
}

func TestNLLLossMatchesFormula(t *testing.T) {
	// loss = −mean_i logp[i, target_i]
	logp := []float32{
		-0.5, -1.2, -2.0,
		-3.0, -0.1, -2.5,
	}
	lp := keep(t)(torch.FromSlice(logp, 2, 3))
	tgt := keep(t)(torch.FromSlice([]int64{2, 1}, 2))
	for _, tc := range []struct {
		r    torch.Reduction
		want []float64
	}{
		{torch.ReduceMean, []float64{(2.0 + 0.1) / 2}},
		{torch.ReduceSum, []float64{2.1}},
		{torch.ReduceNone, []float64{2.0, 0.1}},
	} {
		loss := keep(t)(torch.NLLLoss(lp, tgt, tc.r))
		got, _ := loss.Float64s()
		for i := range tc.want {
			if math.Abs(got[i]-tc.want[i]) > 1e-6 {
				t.Errorf("reduction %d: loss = %v, want %v", tc.r, got, tc.want)
			}
		}
	}
	// Cross entropy on raw scores: −log(e^{x_t} / Σ e^{x_j}).
	logits := []float32{1, 2, 3}
	lg := keep(t)(torch.FromSlice(logits, 1, 3))
	t0 := keep(t)(torch.FromSlice([]int64{0}, 1))
	ce := keep(t)(torch.CrossEntropy(lg, t0, torch.ReduceMean))
	want := -(1 - math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)))
	if got, _ := ce.Item(); math.Abs(got-want) > 1e-6 {
		t.Errorf("cross entropy = %v, want %v", got, want)
	}
}

func TestNLLLossSmoothed(t *testing.T) {
	// By hand, per sample: (1 − 0.1)·NLL + 0.1·mean_j(−logp[i, j]).
	lp := keep(t)(torch.FromSlice([]float32{-0.5, -1.2, -2.0, -3.0, -0.1, -2.5}, 2, 3))
	tgt := keep(t)(torch.FromSlice([]int64{2, 1}, 2))
	s0, s1 := 0.9*2.0+0.1*3.7/3, 0.9*0.1+0.1*5.6/3
	for _, tc := range []struct {
		r    torch.Reduction
		want []float64
	}{
		{torch.ReduceMean, []float64{(s0 + s1) / 2}},
		{torch.ReduceSum, []float64{s0 + s1}},
		{torch.ReduceNone, []float64{s0, s1}},
	} {
		got, _ := keep(t)(torch.NLLLossSmoothed(lp, tgt, 0.1, tc.r)).Float64s()
		for i := range tc.want {
			if math.Abs(got[i]-tc.want[i]) > 1e-6 {
				t.Errorf("reduction %d: loss = %v, want %v", tc.r, got, tc.want)
			}
		}
	}
	// log_softmax of torch.randn(4, 10) (generator seed 0) and
	// F.cross_entropy(logp, [3, 0, 9, 5], label_smoothing=0.2) as PyTorch
	// 1.13.1 printed them.
	logp := []float32{
		-3.313417911529541, -3.339938163757324, -2.4381566047668457, -2.621457099914551, -1.3388677835464478,
		-1.4955689907073975, -2.5035910606384277, -4.302797317504883, -1.8653032779693604, -3.4509129524230957,
		-2.3976829051971436, -2.4395322799682617, -2.6278247833251953, -1.5100082159042358, -1.6308889389038086,
		-2.9949440956115723, -4.100319862365723, -4.443597316741943, -2.1810154914855957, -1.954157829284668,
		-2.095933675765991, -4.249868392944336, -3.0361335277557373, -0.8417671322822571, -2.9106364250183105,
		-3.437321424484253, -2.132051944732666, -2.435145854949951, -2.868734121322632, -3.3735194206237793,
		-1.891958236694336, -2.3413491249084473, -1.6269952058792114, -2.7456841468811035, -4.03035831451416,
		-2.8350048065185547, -3.3482937812805176, -3.136923313140869, -4.411212921142578, -1.1235755681991577,
	}
	lp2 := keep(t)(torch.FromSlice(logp, 4, 10))
	t2 := keep(t)(torch.FromSlice([]int64{3, 0, 9, 5}, 4))
	if got, _ := keep(t)(torch.NLLLossSmoothed(lp2, t2, 0.2, torch.ReduceMean)).Item(); math.Abs(got-2.7846450805664062) > 1e-5 {
		t.Errorf("smoothed loss = %v, want PyTorch's 2.7846450805664062", got)
	}
	// eps 0 is NLLLoss.
	plain, _ := keep(t)(torch.NLLLoss(lp2, t2, torch.ReduceMean)).Item()
	if got, _ := keep(t)(torch.NLLLossSmoothed(lp2, t2, 0, torch.ReduceMean)).Item(); got != plain {
		t.Errorf("eps 0: %v, NLLLoss %v", got, plain)
	}
}

func TestLibtorchErrorIsAnError(t *testing.T) {
	a := keep(t)(torch.FromSlice([]float32{1, 2}, 2))
	b := keep(t)(torch.FromSlice([]float32{1, 2, 3}, 3))
	_, err := a.Eq(b)
	var te *torch.Error
	if !errors.As(err, &te) {
		t.Fatalf("eq of [2] and [3]: err = %v, want a *torch.Error", err)
	}
	// libtorch's own message, without the C++ backtrace.
	if !strings.Contains(te.Msg, "must match the size of tensor b (3)") {
		t.Errorf("message = %q", te.Msg)
	}
	if strings.Contains(te.Msg, "Exception raised from") || strings.Contains(te.Msg, "frame #") {
		t.Errorf("message carries a backtrace: %q", te.Msg)
	}
	// An out-of-range class index is caught by libtorch, not a crash.
	lp := keep(t)(torch.FromSlice([]float32{-1, -1}, 1, 2))
	bad := keep(t)(torch.FromSlice([]int64{5}, 1))
	if _, err := torch.NLLLoss(lp, bad, torch.ReduceMean); err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Errorf("nll_loss with target 5 of 2 classes: %v", err)
	}
	// Item of a many-element tensor.
	if _, err := a.Item(); err == nil {
		t.Error("Item of a 2-element tensor succeeded")
	}
	// The process carries on.
	s := keep(t)(a.Sum())
	if v, err := s.Item(); err != nil || v != 3 {
		t.Errorf("after errors: sum = %v, %v", v, err)
	}
}

func TestClosedTensor(t *testing.T) {
	x, err := torch.FromSlice([]float32{1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
	x.Close() // twice is fine
	if _, err := x.Float32s(); !errors.Is(err, torch.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := x.Sum(); !errors.Is(err, torch.ErrClosed) {
		t.Errorf("op after close: %v", err)
	}
	if x.Shape() != nil || x.NumEl() != 0 {
		t.Error("closed tensor still reports a shape")
	}
	var nilT *torch.Tensor
	nilT.Close()
	if _, err := nilT.Item(); !errors.Is(err, torch.ErrClosed) {
		t.Errorf("nil tensor: %v", err)
	}
}

// The calls over lists of tensors name the first closed one, by its place,
// and change nothing.
func TestClosedTensorInAList(t *testing.T) {
	open := keep(t)(torch.FromSlice([]float32{1, 2}, 2))
	closed, err := torch.FromSlice([]float32{1, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"sgd step", "torch: sgd step: parameter 1: ", torch.SGDStep([]*torch.Tensor{open, closed}, make([]*torch.Tensor, 2), torch.SGDConfig{LR: 0.1})},
		{"sgd step buffer", "torch: sgd step: momentum buffer 0: ", torch.SGDStep([]*torch.Tensor{open}, []*torch.Tensor{closed}, torch.SGDConfig{LR: 0.1})},
		{"sgd step rate", "torch: sgd step: learning rate: ", torch.SGDStep([]*torch.Tensor{open}, make([]*torch.Tensor, 1), torch.SGDConfig{LRFrom: closed})},
		{"zero_grad", "torch: zero_grad: parameter 0: ", torch.ZeroGrad([]*torch.Tensor{closed, open})},
		{"average", "torch: average: source 0: ", torch.Average([]*torch.Tensor{open}, []*torch.Tensor{closed}, 0.5)},
		{"average weight", "torch: average: weight: ", torch.AverageFrom([]*torch.Tensor{open}, []*torch.Tensor{open}, closed)},
	} {
		if !errors.Is(tc.err, torch.ErrClosed) || !strings.HasPrefix(tc.err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q…", tc.name, tc.err, tc.want)
		}
	}
	if v := torchtest.Floats(t, open); v[0] != 1 || v[1] != 2 {
		t.Errorf("the open tensor changed: %v", v)
	}
}

func TestLiveTensorsCountsHandles(t *testing.T) {
	before := torch.LiveTensors()
	var xs []*torch.Tensor
	for range 10 {
		x, err := torch.Zeros(torch.Float32, 3)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	if got := torch.LiveTensors() - before; got != 10 {
		t.Errorf("10 tensors made: live grew by %d", got)
	}
	for _, x := range xs {
		x.Close()
	}
	if got := torch.LiveTensors() - before; got != 0 {
		t.Errorf("all closed: live differs by %d", got)
	}
}

func TestParseDevice(t *testing.T) {
	for _, s := range []string{"cpu", "CPU", " cpu "} {
		if d, err := torch.ParseDevice(s); err != nil || d != torch.CPU {
			t.Errorf("ParseDevice(%q) = %v, %v", s, d, err)
		}
	}
	d, err := torch.ParseDevice("auto")
	if err != nil {
		t.Fatal(err)
	}
	if torch.CUDAAvailable() != d.IsCUDA() {
		t.Errorf("auto = %v with CUDA available = %v", d, torch.CUDAAvailable())
	}
	for _, s := range []string{"tpu", "cuda:x", "cuda:-1", "", "gpu"} {
		if _, err := torch.ParseDevice(s); err == nil {
			t.Errorf("ParseDevice(%q) accepted", s)
		}
	}
	if !torch.CUDAAvailable() {
		if torch.CUDADeviceCount() != 0 {
			t.Errorf("no CUDA but %d devices", torch.CUDADeviceCount())
		}
		why := torch.CUDAUnavailableReason()
		if why == "" || strings.Contains(why, "\n") {
			t.Errorf("CUDAUnavailableReason() = %q without CUDA", why)
		}
		for _, s := range []string{"cuda", "cuda:0", "cuda:3"} {
			_, err := torch.ParseDevice(s)
			if !errors.Is(err, torch.ErrNoCUDA) || !strings.Contains(err.Error(), why) {
				t.Errorf("ParseDevice(%q) without CUDA: %v", s, err)
			}
		}
	}
	if got := torch.CUDA(1).String(); got != "cuda:1" {
		t.Errorf("CUDA(1) = %q", got)
	}
}

func TestNoGrad(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := keep(t)(torch.FromSlice([]float32{1, 2}, 2))
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	if !torch.GradEnabled() {
		t.Fatal("grad mode off by default")
	}
	err := torch.NoGrad(func() error {
		if torch.GradEnabled() {
			t.Error("grad enabled inside NoGrad")
		}
		s := keep(t)(w.Sum())
		if s.RequiresGrad() {
			t.Error("op under NoGrad records a graph")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !torch.GradEnabled() {
		t.Error("grad mode not restored")
	}
	s := keep(t)(w.Sum())
	if !s.RequiresGrad() {
		t.Error("op outside NoGrad records no graph")
	}
	if err := s.Backward(); err != nil {
		t.Fatal(err)
	}
	g := keep(t)(w.Grad())
	if v, _ := g.Float32s(); !slices.Equal(v, []float32{1, 1}) {
		t.Errorf("d(sum)/dw = %v", v)
	}
}

func TestThreadsSeedVersion(t *testing.T) {
	prev := torch.NumThreads()
	defer torch.SetNumThreads(prev)
	if err := torch.SetNumThreads(1); err != nil || torch.NumThreads() != 1 {
		t.Errorf("SetNumThreads(1): %v, now %d", err, torch.NumThreads())
	}
	if err := torch.SetNumThreads(0); err == nil {
		t.Error("SetNumThreads(0) accepted")
	}
	if err := torch.ManualSeed(42); err != nil {
		t.Fatal(err)
	}
	if v := torch.Version(); !strings.Contains(v, ".") {
		t.Errorf("version = %q", v)
	}
}

func TestSaveLoadTensors(t *testing.T) {
	a := keep(t)(torch.FromSlice([]float32{1.5, -2}, 2))
	b := keep(t)(torch.FromSlice([]int64{7}, 1))
	data, err := torch.SaveTensors([]torch.Named{{Name: "a.weight", Tensor: a}, {Name: "b", Tensor: b}})
	if err != nil {
		t.Fatal(err)
	}
	// torch.save's format is a zip archive.
	if !strings.HasPrefix(string(data), "PK") {
		t.Errorf("not a zip archive: % x", data[:4])
	}
	got := torchtest.Load(t, data)
	if len(got) != 2 || got[0].Name != "a.weight" || got[1].Name != "b" {
		t.Fatalf("loaded %v", got)
	}
	if v, _ := got[0].Tensor.Float32s(); !slices.Equal(v, []float32{1.5, -2}) {
		t.Errorf("a.weight = %v", v)
	}
	if v, _ := got[1].Tensor.Int64s(); !slices.Equal(v, []int64{7}) || got[1].Tensor.DType() != torch.Int64 {
		t.Errorf("b = %v", v)
	}
	// Corrupt input is an error, not a crash.
	for name, bad := range map[string][]byte{
		"truncated": data[:len(data)/2],
		"garbage":   []byte("this is not a checkpoint"),
		"empty":     nil,
	} {
		if _, err := torch.LoadTensors(bad); err == nil {
			t.Errorf("%s data loaded", name)
		}
	}
}

// A file written by Python's torch.save (testdata/README.md says how it was
// made) loads with the values Python printed.
func TestLoadPythonFile(t *testing.T) {
	data, err := os.ReadFile("testdata/python_tensors.pt")
	if err != nil {
		t.Fatal(err)
	}
	got := torchtest.Load(t, data)
	if len(got) != 3 || got[0].Name != "w" || got[1].Name != "steps" || got[2].Name != "mask" {
		t.Fatalf("loaded %v", got)
	}
	if v, _ := got[0].Tensor.Float32s(); !slices.Equal(v, []float32{0.25, -1, 3.5, 1e-3, 0, 42}) || !slices.Equal(got[0].Tensor.Shape(), []int64{2, 3}) {
		t.Errorf("w = %v %v", v, got[0].Tensor.Shape())
	}
	if v, _ := got[1].Tensor.Int64s(); !slices.Equal(v, []int64{12345678901}) {
		t.Errorf("steps = %v", v)
	}
	if v, _ := got[2].Tensor.Uint8s(); !slices.Equal(v, []uint8{0, 255, 3}) {
		t.Errorf("mask = %v", v)
	}
}

func TestSaveLoadDictWithStrings(t *testing.T) {
	w := keep(t)(torch.FromSlice([]float32{1, 2}, 2))
	data, err := torch.SaveDict([]torch.Named{{Name: "w", Tensor: w}}, []torch.Text{{Name: "meta", Value: `{"epoch": 3}`}, {Name: "empty", Value: ""}})
	if err != nil {
		t.Fatal(err)
	}
	items, texts, err := torch.LoadDict(data)
	if err != nil {
		t.Fatal(err)
	}
	defer items[0].Tensor.Close()
	if len(items) != 1 || items[0].Name != "w" || len(texts) != 2 || texts[0] != (torch.Text{Name: "meta", Value: `{"epoch": 3}`}) || texts[1].Value != "" {
		t.Errorf("loaded %v %v", items, texts)
	}
	// LoadTensors wants tensors only.
	if _, err := torch.LoadTensors(data); err == nil || !strings.Contains(err.Error(), `"meta" is a string`) {
		t.Errorf("LoadTensors of a dict with strings: %v", err)
	}
}

// What libtorch refuses is explained where the cause is known (an
// OrderedDict, a whole module) and left in libtorch's words otherwise: a
// plain dict whose pickle names OrderedDict only inside its tensors is not
// an OrderedDict.
func TestLoadOrderedDictExplains(t *testing.T) {
	for _, tc := range []struct {
		file, want, not string
	}{
		{"testdata/python_ordereddict.pt", "the file holds an OrderedDict, which libtorch cannot read", ""},
		{"testdata/python_module.pt", "a pickled torch.nn.modules.linear.Linear object, not a dict of tensors", "OrderedDict, which"},
		{"testdata/python_dict_with_int.pt", "", "OrderedDict"},
	} {
		data, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = torch.LoadDict(data)
		switch {
		case err == nil:
			t.Errorf("%s: loaded", tc.file)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		case tc.not != "" && strings.Contains(err.Error(), tc.not):
			t.Errorf("%s: %v, should not mention %q", tc.file, err, tc.not)
		}
		t.Logf("%s: %v", tc.file, err)
	}
}

// A checkpoint whose central directory (and end records) is damaged byte
// by byte is either refused by CheckArchive, in its own words, or loads
// exactly as the whole file does: none reaches libtorch's reader to be
// refused there (nor explained as an OrderedDict).
func TestDamagedDirectory(t *testing.T) {
	data, err := os.ReadFile("testdata/tiny_checkpoint.pt")
	if err != nil {
		t.Fatal(err)
	}
	want, wantTexts, err := torch.LoadDict(data)
	if err != nil {
		t.Fatal(err)
	}
	wantValues := values(t, want)
	// The central directory: from its offset (in the end record) to the
	// end record itself.
	end := bytes.LastIndex(data, []byte("PK\x05\x06"))
	dir := int(binary.LittleEndian.Uint32(data[end+16:]))
	refused, same, libtorch := 0, 0, 0
	for i := dir; i < len(data); i++ {
		for _, x := range []byte{0x01, 0x08, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			got, texts, err := torch.LoadDict(bad)
			var fe *torch.FileError
			switch {
			case errors.As(err, &fe):
				refused++
			case err != nil:
				libtorch++
				if strings.Contains(err.Error(), "OrderedDict") {
					t.Errorf("byte %d ^ %#x: %v", i, x, err)
				}
			default:
				if !reflect.DeepEqual(values(t, got), wantValues) || !reflect.DeepEqual(texts, wantTexts) {
					t.Errorf("byte %d ^ %#x: loaded other values", i, x)
				}
				same++
			}
		}
	}
	t.Logf("%d damaged directories: %d refused by CheckArchive, %d loaded the same, %d refused by libtorch", refused+same+libtorch, refused, same, libtorch)
	if libtorch > 0 {
		t.Errorf("%d damaged directories passed CheckArchive and were refused by libtorch", libtorch)
	}
}

// values reads a loaded dict's tensors as float32s and closes them.
func values(t *testing.T, items []torch.Named) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, it := range items {
		if it.Tensor.DType() == torch.Float32 {
			v, err := it.Tensor.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			out[it.Name] = v
		} else {
			out[it.Name] = nil
		}
		it.Tensor.Close()
	}
	return out
}
