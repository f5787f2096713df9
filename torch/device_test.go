package torch_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
)

// devices are the devices this machine's libtorch can test: the CPU, and the
// first GPU where there is one.
func devices() []torch.Device {
	d := []torch.Device{torch.CPU}
	if torch.CUDAAvailable() {
		d = append(d, torch.CUDA(0))
	}
	return d
}

func TestFromSliceOn(t *testing.T) {
	data := []float32{1.5, -2, 3.25, 0, 7, -0.125}
	for _, d := range devices() {
		x := keep(t)(torch.FromSliceOn(data, d, 2, 3))
		if x.Device() != d && !(d.IsCUDA() && x.Device().IsCUDA()) {
			t.Errorf("%v: tensor on %v", d, x.Device())
		}
		back := keep(t)(x.To(torch.CPU))
		got, err := back.Float32s()
		if err != nil || !slices.Equal(got, data) {
			t.Errorf("%v: round trip %v, %v", d, got, err)
		}
		if _, err := torch.FromSliceOn(data, d, 4, 2); err == nil {
			t.Errorf("%v: 6 values accepted for shape [4 2]", d)
		}
	}
}

// TestTally checks the device-side running sums against the same sums done
// in Go: float64(loss)·n added batch by batch, and argmax counted row by row.
func TestTally(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range devices() {
		acc, err := torch.NewTally(d)
		if err != nil {
			t.Fatal(err)
		}
		var wantLoss float64
		wantCorrect := 0
		for _, n := range []int{64, 64, 17} {
			logp := make([]float32, n*10)
			labels := make([]int64, n)
			for i := range n {
				best := 0
				for c := range 10 {
					logp[i*10+c] = -float32(rng.Float64() * 5)
					if logp[i*10+c] > logp[i*10+best] {
						best = c
					}
				}
				labels[i] = int64(rng.IntN(10))
				if rng.IntN(2) == 0 {
					labels[i] = int64(best)
				}
				if labels[i] == int64(best) {
					wantCorrect++
				}
			}
			loss := float32(rng.Float64() * 3)
			wantLoss += float64(loss) * float64(n)
			lt := keep(t)(torch.FromSliceOn([]float32{loss}, d))
			pt := keep(t)(torch.FromSliceOn(logp, d, int64(n), 10))
			yt := keep(t)(torch.FromSliceOn(labels, d, int64(n)))
			if err := acc.Add(lt, pt, yt, n); err != nil {
				t.Fatal(err)
			}
		}
		gotLoss, gotCorrect, err := acc.Read()
		acc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if gotLoss != wantLoss || gotCorrect != wantCorrect {
			t.Errorf("%v: tally %v, %d; want %v, %d", d, gotLoss, gotCorrect, wantLoss, wantCorrect)
		}
	}
	// Mismatched shapes are libtorch errors, not crashes.
	acc, _ := torch.NewTally(torch.CPU)
	defer acc.Close()
	loss := keep(t)(torch.FromSlice([]float32{1}))
	logp := keep(t)(torch.FromSlice(make([]float32, 20), 2, 10))
	y := keep(t)(torch.FromSlice([]int64{1, 2, 3}, 3))
	if err := acc.Add(loss, logp, y, 2); err == nil {
		t.Error("3 labels for 2 rows accepted")
	}
}

func TestDeviceHelpers(t *testing.T) {
	if err := torch.Synchronize(torch.CPU); err != nil {
		t.Errorf("Synchronize(cpu): %v", err)
	}
	if got := torch.Describe(torch.CPU); got != "cpu" {
		t.Errorf("Describe(cpu) = %q", got)
	}
	if torch.CUDAAvailable() {
		name, err := torch.CUDADeviceName(0)
		used, total, merr := torch.CUDAMemory(0)
		t.Logf("GPU 0: %q (%v); memory %d of %d bytes (%v); %s", name, err, used, total, merr, torch.Describe(torch.CUDA(0)))
		if err == nil && name == "" {
			t.Error("empty GPU name")
		}
		if merr == nil && (used == 0 || used < -1 || total < used || total <= 0) {
			t.Errorf("GPU memory: %d used of %d", used, total)
		}
		return
	}
	// Without CUDA every GPU call is an error, never a crash.
	if _, err := torch.CUDADeviceName(0); err == nil {
		t.Error("CUDADeviceName without CUDA: no error")
	}
	if _, _, err := torch.CUDAMemory(0); err == nil {
		t.Error("CUDAMemory without CUDA: no error")
	}
	if _, err := torch.RNGState(torch.CUDA(0)); err == nil {
		t.Error("RNGState(cuda:0) without CUDA: no error")
	}
	if _, err := torch.FromSliceOn([]float32{1}, torch.CUDA(0), 1); err == nil {
		t.Error("FromSliceOn(cuda:0) without CUDA: no error")
	}
	if got := torch.Describe(torch.CUDA(0)); !strings.HasPrefix(got, "cuda") {
		t.Errorf("Describe(cuda:0) = %q", got)
	}
}

// TestRNGStateOnDevices checks that a generator's state, restored, repeats
// its draws (dropout masks here), on every device this machine has.
func TestRNGStateOnDevices(t *testing.T) {
	for _, d := range devices() {
		state := keep(t)(torch.RNGState(d))
		if state.DType() != torch.Uint8 || state.NumEl() == 0 {
			t.Fatalf("%v: state %v", d, state)
		}
		if err := torch.SetRNGState(d, state); err != nil {
			t.Fatalf("%v: %v", d, err)
		}
		again := keep(t)(torch.RNGState(d))
		a, _ := state.Uint8s()
		b, _ := again.Uint8s()
		if string(a) != string(b) {
			t.Errorf("%v: state changed by a set/get round trip", d)
		}
	}
}

// Where the libtorch this process loaded has no libtorch_cuda beside its
// libtorch_cpu (found from /proc/self/maps, not from the shim), the reason
// CUDA is unavailable says it is a CPU-only build, naming both libraries.
func TestCUDAUnavailableReasonNamesACPUOnlyLibtorch(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps:", err)
	}
	cpu := ""
	for _, line := range strings.Split(string(maps), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.HasPrefix(filepath.Base(f[5]), "libtorch_cpu.so") {
			cpu = f[5]
			break
		}
	}
	if cpu == "" {
		t.Fatal("libtorch_cpu is not mapped into this process")
	}
	siblings, _ := filepath.Glob(filepath.Join(filepath.Dir(cpu), "libtorch_cuda.so*"))
	if len(siblings) > 0 {
		t.Skipf("this libtorch has CUDA (%v)", siblings)
	}
	why := torch.CUDAUnavailableReason()
	if !strings.Contains(why, "CPU-only") || !strings.Contains(why, "libtorch_cpu.so") || !strings.Contains(why, "libtorch_cuda.so") {
		t.Errorf("CUDAUnavailableReason() = %q; want it to name libtorch_cpu (%s) a CPU-only build, without libtorch_cuda", why, cpu)
	}
}

// Without CUDA graphs in the build, making a graph fails with the reason.
func TestGraphWithoutSupport(t *testing.T) {
	why := torch.CUDAGraphsUnsupported()
	if why == "" {
		t.Skip("this build captures CUDA graphs")
	}
	if g, err := torch.NewGraph(); err == nil || !strings.Contains(err.Error(), why) {
		t.Errorf("NewGraph() = %v, %v; want the error %q", g, err, why)
	}
}
