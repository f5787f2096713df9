package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/torchtest"
	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
	"github.com/tinydigits/tinydigits/torch/optim"
)

// The real files of a one-epoch tiny run (torch/testdata/README.md).
var (
	realCheckpoint = filepath.Join("..", "..", "torch", "testdata", "tiny_checkpoint.pt")
	realModel      = filepath.Join("..", "..", "torch", "testdata", "tiny_model.pt")
)

// stateOf is a network's state dict as plain values, for comparisons.
func stateOf(t *testing.T, net *nn.Sequential) map[string][]float32 {
	t.Helper()
	m := map[string][]float32{}
	for _, n := range net.StateDict() {
		v, err := n.Tensor.Float32s()
		if err != nil { // num_batches_tracked is int64
			iv, err := n.Tensor.Int64s()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range iv {
				v = append(v, float32(x))
			}
		}
		m[n.Name] = v
	}
	return m
}

// resumeState reads a checkpoint the way -resume does and returns the
// restored weights, or the error that refused it.
func resumeState(t *testing.T, path string) (map[string][]float32, error) {
	ck, err := runfolder.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	net, err := ck.Arch.Build()
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	opt, err := optim.NewSGD(nn.Parameters(net), optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	if err := ck.Restore(net, opt, torch.CPU); err != nil {
		return nil, err
	}
	return stateOf(t, net), nil
}

// evalState loads a file the way -eval and predict do.
func evalState(t *testing.T, path string) (map[string][]float32, error) {
	net, _, err := runfolder.LoadModel(path, "tiny")
	if err != nil {
		return nil, err
	}
	defer net.Close()
	return stateOf(t, net), nil
}

// FuzzRunFiles feeds damaged model.pt and checkpoint.pt files to the
// loaders behind -resume, -eval and predict. They must never crash, every
// refusal is a runfolder.InputError of one line, and whatever they accept holds
// exactly the weights of the real file: changed tensor data is always
// refused. The seed corpus (the two real files, cuts at every 1/16 of their
// length, byte flips) runs as a plain test; go test -fuzz=FuzzRunFiles
// ./train/engine explores further.
func FuzzRunFiles(f *testing.F) {
	if _, err := models.Lookup("tiny"); err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{realModel, realCheckpoint} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, b := range torchtest.Damaged(data, 2) {
			f.Add(b)
		}
	}
	var wantResume, wantModel, wantFromCheckpoint map[string][]float32
	f.Fuzz(func(t *testing.T, data []byte) {
		if wantResume == nil {
			var err error
			if wantResume, err = resumeState(t, realCheckpoint); err != nil {
				t.Fatal(err)
			}
			if wantModel, err = evalState(t, realModel); err != nil {
				t.Fatal(err)
			}
			if wantFromCheckpoint, err = evalState(t, realCheckpoint); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(t.TempDir(), "file.pt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		refused := func(what string, err error) {
			if !IsInputError(err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: want a one-line input error, got %v", what, err)
			}
		}
		if got, err := resumeState(t, path); err != nil {
			refused("resume", err)
		} else if !reflect.DeepEqual(got, wantResume) {
			t.Error("resume accepted a checkpoint whose weights differ from the real one's")
		}
		if got, err := evalState(t, path); err != nil {
			refused("eval", err)
		} else if !reflect.DeepEqual(got, wantModel) && !reflect.DeepEqual(got, wantFromCheckpoint) {
			t.Error("eval accepted a file whose weights differ from the real files'")
		}
	})
}
