package runfolder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/torch/nn"
)

// LoadModel builds the network saved at path: a model.pt (state dict) or a
// checkpoint.pt. The net is arch when given (a registered name or an arch
// file), else the checkpoint's own, else the run folder's arch.json, else
// the registered arch that the folder's summary.json or checkpoint names (a
// run folder of an earlier version). The network is in eval mode on the
// CPU; every problem is an InputError.
func LoadModel(path, arch string) (*nn.Sequential, models.Arch, error) {
	var a models.Arch
	if strings.HasSuffix(path, ".json") {
		return nil, a, inputf("%s is a JSON file; -eval and predict take a model.pt or checkpoint.pt (an arch file goes to -arch)", path)
	}
	items, texts, err := torch.LoadDictFile(path)
	if err != nil {
		return nil, a, &InputError{Err: err}
	}
	defer func() {
		for _, n := range items {
			n.Tensor.Close()
		}
	}()
	known := arch != ""
	if known {
		if a, err = models.Resolve(arch); err != nil {
			return nil, a, &InputError{Err: err}
		}
	}
	state := items
	if len(texts) > 0 { // a checkpoint: one reader for all of them
		ck, err := checkpointOf(path, items, texts)
		if err != nil {
			return nil, a, err
		}
		defer ck.Close()
		if !known {
			a, known = ck.Arch, true
		}
		state = ck.Weights()
	}
	if !known {
		if a, err = archBeside(path); err != nil {
			return nil, a, err
		}
	}
	net, err := a.Build()
	if err != nil {
		return nil, a, &InputError{Err: err}
	}
	if err := nn.LoadStateDict(net, state); err != nil {
		net.Close()
		return nil, a, inputf("%s does not fit %s: %v", path, a.Name, err)
	}
	net.Train(false)
	return net, a, nil
}

// archBeside reads the arch of the run folder that holds path: its
// arch.json, or, for a folder of an earlier version, the registered arch
// its summary.json or checkpoint.pt names.
func archBeside(path string) (models.Arch, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(filepath.Join(dir, ArchFile)); err == nil {
		a, err := models.ReadFile(filepath.Join(dir, ArchFile))
		if err != nil {
			return a, &InputError{Err: err}
		}
		return a, nil
	}
	// Only the arch's name: an earlier version's summary.json differs in
	// other fields (its recipe was a line of text).
	var summary struct {
		Arch string `json:"arch"`
	}
	if data, err := os.ReadFile(filepath.Join(dir, SummaryFile)); err == nil && json.Unmarshal(data, &summary) == nil && summary.Arch != "" {
		a, err := models.Lookup(summary.Arch)
		if err != nil {
			return a, &InputError{Err: err}
		}
		return a, nil
	}
	if ck, err := ReadCheckpoint(filepath.Join(dir, CheckpointFile)); err == nil {
		defer ck.Close()
		return ck.Arch, nil
	}
	return models.Arch{}, inputf("cannot tell which arch %s holds: no %s, %s or %s beside it; pass -arch",
		path, ArchFile, SummaryFile, CheckpointFile)
}
