// Package engine is the training run behind `go run ./train`: it loads the
// data, builds the model, trains and evaluates epoch by epoch, reports
// progress, and writes the run folder. The train command only parses flags
// into a Config and calls Run, so tests drive the same code.
//
// The files, by job:
//
//	config.go    Config: a run's settings, their defaults and checks
//	session.go   a session: libtorch, the data, the net, the optimizer,
//	             the loaders, the schedule and the step, from small builders
//	run.go       Run: the run folder held, the epoch loop, the checkpoints,
//	             the finished run's files
//	resume.go    -resume: the checkpoint's run, its state restored
//	continue.go  -continue: what the run folder holds decides the run
//	step.go      the training step (one body, eager or captured) and an epoch
//	graph.go     the step captured as a CUDA graph
//	evaluate.go  evaluation of the net on the test or validation images
//	eval.go      -eval: a saved model evaluated
//	text.go      the banner, the recipe line and the closing lines
//	progress.go  the progress bar and lines, and the events a sweep watches
//	plots.go     the run's pictures
//	memory.go    the memory estimate and what the machine has
//	bench.go     the training step timed, for benchmarks
package engine
