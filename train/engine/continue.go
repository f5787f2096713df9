package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// continueRun is -continue: what Out holds decides the run. A finished
// run is reported in one line and kept (done is true; its runfolder.Result is
// returned); an unfinished one is resumed with the settings it started
// with; an empty folder trains as given. Where the settings given differ
// from those of the run found, one line says which. -overwrite still
// starts over, and a dry run writes nothing, so neither looks.
func continueRun(cfg Config, out io.Writer) (_ Config, _ *runfolder.Result, done bool, _ error) {
	switch {
	case cfg.Resume != "":
		return cfg, nil, false, inputErr("-continue goes with -out DIR (the folder to continue), not with -resume")
	case cfg.Overwrite || cfg.DryRun:
		return cfg, nil, false, nil
	}
	summarized, finished := runfolder.FinishedEpochs(cfg.Out)
	ckPath := filepath.Join(cfg.Out, runfolder.CheckpointFile)
	if _, err := os.Stat(ckPath); errors.Is(err, os.ErrNotExist) {
		if finished {
			return cfg, nil, false, inputErr("%s holds a %s but no %s, so it cannot be continued; -overwrite starts over", cfg.Out, runfolder.SummaryFile, runfolder.CheckpointFile)
		}
		return cfg, nil, false, nil
	}
	ck, err := runfolder.ReadCheckpoint(ckPath)
	if err != nil {
		return cfg, nil, false, err
	}
	defer ck.Close()
	diff := ""
	if !ck.Legacy {
		diff = settingsDiff(cfg, ck)
	}
	if finished && (ck.Legacy || ck.Meta.Epoch >= ck.Arch.Recipe.Epochs && summarized == ck.Meta.Epoch) {
		res, err := runfolder.ReadResult(cfg.Out)
		if err != nil {
			return cfg, nil, false, &runfolder.InputError{Err: fmt.Errorf("%w; -overwrite starts the run over", err)}
		}
		fmt.Fprintf(out, "%s: finished, kept: %s\n", cfg.Out, verdict(res, res.Target))
		if diff != "" {
			fmt.Fprintf(out, "%s: note: the finished run differs from the settings given: %s; -overwrite retrains with them\n", cfg.Out, diff)
		}
		return cfg, res, true, nil
	}
	if diff != "" {
		fmt.Fprintf(out, "%s: note: resuming the unfinished run with its own settings, which differ from those given: %s; -overwrite starts over with them\n", cfg.Out, diff)
	}
	r := cfg
	r.Resume, r.Continue = cfg.Out, false
	// The run keeps what it started with; only the settings that do not
	// change what it computes carry over.
	r.Overridden = map[string]bool{}
	for _, name := range []string{"quiet", "log-interval", "save-model", "workers", "cuda-graphs"} {
		if cfg.Overridden[name] {
			r.Overridden[name] = true
		}
	}
	return r, nil, false, nil
}

// settingsDiff lists, as flags, where the run wanted differs from the one in
// the checkpoint: "-epochs 1 (the run: 15), -seed 2 (the run: 1)". The
// thread count, device and data folder count only when given as flags,
// since their defaults depend on the machine.
func settingsDiff(want Config, ck *runfolder.Checkpoint) string {
	var d []string
	add := func(flag string, w, have any) {
		if !reflect.DeepEqual(w, have) {
			d = append(d, fmt.Sprintf("-%s %v (the run: %v)", flag, w, have))
		}
	}
	if a, err := want.arch(); err == nil {
		switch {
		case a.Name != ck.Arch.Name:
			add("arch", a.Name, ck.Arch.Name)
		case !sameLayers(a, ck.Arch):
			d = append(d, fmt.Sprintf("-arch %s (its layers differ from the run's)", want.Arch))
		}
	}
	have := ck.Arch.Recipe
	for _, f := range models.RecipeFields() {
		add(f.Flag, want.Recipe.Get(f), have.Get(f))
	}
	run := ck.Meta.Run
	add("seed", want.Seed, run.Seed)
	add("subset", want.Subset, run.Subset)
	add("holdout", want.Holdout, run.Holdout)
	add("test-batch-size", want.TestBatchSize, run.TestBatchSize)
	add("target", want.Target, run.Target)
	if want.Overridden["threads"] {
		add("threads", want.Threads, run.Threads)
	}
	if want.Overridden["device"] {
		add("device", want.Device, run.Device)
	}
	if want.Overridden["data"] {
		add("data", want.DataDir, run.DataDir)
	}
	return strings.Join(d, ", ")
}

// sameLayers reports whether two archs have the same layers, compared in
// their canonical form (an option given at its default is the same).
func sameLayers(a, b models.Arch) bool {
	if len(a.Layers) != len(b.Layers) {
		return false
	}
	for i := range a.Layers {
		x, _ := a.Layers[i].MarshalJSON()
		y, _ := b.Layers[i].MarshalJSON()
		if string(x) != string(y) {
			return false
		}
	}
	return true
}
