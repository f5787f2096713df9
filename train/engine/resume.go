package engine

import (
	"path/filepath"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// openResume reads the checkpoint of a -resume and returns the run's own
// configuration with the overrides a resume may take.
func openResume(cfg Config) (Config, *runfolder.Checkpoint, error) {
	if cfg.Resume == "" {
		return cfg, nil, nil
	}
	dir, file, err := runfolder.CheckpointPath(cfg.Resume)
	if err != nil {
		return cfg, nil, err
	}
	ck, err := runfolder.ReadCheckpoint(file)
	if err != nil {
		return cfg, nil, err
	}
	if cfg, err = resumeConfig(cfg, ck, dir); err != nil {
		ck.Close()
		return cfg, nil, err
	}
	return cfg, ck, nil
}

// restore continues from a checkpoint: its weights, optimizer and RNG
// state, and its metrics so far.
func (r *run) restore(ck *runfolder.Checkpoint) error {
	if ck == nil {
		return nil
	}
	if err := ck.Restore(r.net, r.opt, r.device); err != nil {
		return err
	}
	if r.avg != nil {
		if err := ck.RestoreAverage(r.avgNet, r.avg); err != nil {
			return err
		}
	}
	r.first = ck.Meta.Epoch
	r.res.Epochs = append(r.res.Epochs, ck.Meta.Metrics...)
	r.earlier = ck.Meta.WallSeconds
	r.res.ResumedAt = append(append([]int{}, ck.Meta.ResumedAt...), r.first)
	return nil
}

// reopen prepares a resumed run that has epochs left to train: the folder
// stops claiming a finished run (an extension with -epochs of a finished
// one removes its summary.json, which the new last epoch writes again),
// and an extension's checkpoint records the new epoch count at once, so
// that a kill at any later moment leaves a run that a plain -resume
// carries on to the new end.
func (r *run) reopen(ck *runfolder.Checkpoint) error {
	if ck == nil || r.cfg.DryRun || r.first >= r.cfg.Epochs {
		return nil
	}
	if err := runfolder.MarkUnfinished(r.cfg.Out); err != nil {
		return err
	}
	if ck.Arch.Recipe.Epochs != r.cfg.Epochs {
		return r.save(r.first)
	}
	return nil
}

// resumeConfig is the checkpoint's configuration with the overrides a
// resumed run may take (more epochs, another device, threads, output
// settings); changing the recipe is an error, since the run would no longer
// be the one that was started.
func resumeConfig(given Config, ck *runfolder.Checkpoint, dir string) (Config, error) {
	if ck.Legacy {
		return given, inputErr("resume: %s was written by an earlier version and cannot be resumed (-eval still reads its weights)", ck.Path)
	}
	run := ck.Meta.Run
	cfg := given
	net := ck.Arch
	cfg.Arch, cfg.Net, cfg.Recipe, cfg.Out, cfg.Resume = net.Name, &net, net.Recipe, dir, ""
	cfg.Seed, cfg.TestBatchSize, cfg.Subset, cfg.Holdout = run.Seed, run.TestBatchSize, run.Subset, run.Holdout
	cfg.Target, cfg.DataDir = run.Target, run.DataDir
	// The thread count and the device change the arithmetic: keep the
	// run's unless a flag says otherwise.
	cfg.Threads, cfg.Device = run.Threads, run.Device
	recipeFlags := map[string]bool{}
	for _, f := range models.RecipeFields() {
		recipeFlags[f.Flag] = true
	}
	for name := range given.Overridden {
		switch {
		case name == "epochs":
			if cfg.schedule() == models.ScheduleOneCycle && given.Epochs != net.Recipe.Epochs {
				return cfg, inputErr("resume: %s uses a OneCycle schedule, which spans its %d epochs; -epochs cannot change", dir, net.Recipe.Epochs)
			}
			cfg.Epochs = given.Epochs
		case recipeFlags[name], name == "seed", name == "subset", name == "holdout", name == "test-batch-size":
			return cfg, inputErr("resume: -%s cannot change when resuming: the run keeps the recipe it started with", name)
		case name == "data":
			cfg.DataDir = given.DataDir
		case name == "target":
			cfg.Target = given.Target
		case name == "threads":
			cfg.Threads = given.Threads
		case name == "device":
			cfg.Device = given.Device
		case name == "arch":
			if given.Arch != net.Name {
				return cfg, inputErr("resume: %s holds a %s run, not %s", ck.Path, net.Name, given.Arch)
			}
		case name == "out":
			if filepath.Clean(given.Out) != filepath.Clean(dir) {
				return cfg, inputErr("resume: a resumed run stays in its folder %s; -out %s does not apply", dir, given.Out)
			}
		case name == "dry-run", name == "overwrite":
			return cfg, inputErr("resume: -%s does not go with -resume", name)
		}
	}
	// A summary of fewer epochs than the checkpoint is an earlier finish,
	// before an extension that was stopped: not finished.
	done, finished := runfolder.FinishedEpochs(dir)
	finished = finished && done == ck.Meta.Epoch
	switch {
	case ck.Meta.Epoch > cfg.Epochs:
		return cfg, inputErr("resume: %s has finished %d epochs; -epochs %d is fewer", dir, ck.Meta.Epoch, cfg.Epochs)
	case ck.Meta.Epoch == cfg.Epochs && finished:
		return cfg, inputErr("resume: %s already finished its %d epochs; pass -epochs N (more than %d) to train further",
			dir, ck.Meta.Epoch, ck.Meta.Epoch)
	}
	return cfg, nil
}
