// Package slurm runs a sweep on a cluster as a Slurm job array: one array
// task per run. Write puts the runs (one JSON line each), a copy of the
// sweep program and an sbatch script into SWEEP/slurm/; each task runs
// `sweep -task N SWEEP`, which reads line N and trains that run into the
// sweep folder on the shared file system, resuming it if an earlier task
// was stopped, skipping it if it finished. `sweep -report SWEEP` then
// collects the results, whichever node ran them.
package slurm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

// The files Write puts in SWEEP/slurm/.
const (
	Folder     = "slurm"
	RunsFile   = "runs.jsonl"
	ScriptFile = "sweep.sbatch"
	Program    = "sweep"
	// DataFolder holds the MNIST files the tasks train from, copied by the
	// sweep that wrote the array.
	DataFolder = "data"
)

// Line is one run of the array: its task reads it by SLURM_ARRAY_TASK_ID.
type Line struct {
	Task    int      `json:"task"`
	Dir     string   `json:"dir"`
	Args    []string `json:"args"`
	Threads int      `json:"threads"`
	Device  string   `json:"device"`
	// Data is the MNIST folder the run trains from (its -data), where the
	// run's own flags give none; empty for the data's default.
	Data string `json:"data,omitempty"`
}

// Options are the array's settings.
type Options struct {
	Threads int    // libtorch threads per run, and --cpus-per-task
	Device  string // each run's device
	MemMB   int    // --mem per task (0: leave it to the cluster)
	Jobs    int    // at most this many tasks at once (the array's %N; 0: no limit)
	Name    string // --job-name
	// Extra are more sbatch options, one per #SBATCH line ("--partition=gpu").
	Extra []string
	// Program is the sweep executable to copy next to the script.
	Program string
	// Data is the MNIST folder every task reads unless its run gives
	// -data (made absolute here); "" leaves the data to each node.
	Data string
}

// Write writes the array's files into dir/slurm and returns the script's
// path. dir must be on a file system every node sees, at the same path.
func Write(dir string, runs []grid.Run, opt Options) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sd := filepath.Join(abs, Folder)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return "", err
	}
	dataDir := ""
	if opt.Data != "" {
		if dataDir, err = filepath.Abs(opt.Data); err != nil {
			return "", err
		}
	}
	var lines strings.Builder
	for i, r := range runs {
		data, _ := json.Marshal(Line{Task: i + 1, Dir: r.Dir, Args: r.Args, Threads: opt.Threads, Device: opt.Device, Data: dataDir})
		lines.Write(append(data, '\n'))
	}
	if err := atomicfile.Write(filepath.Join(sd, RunsFile), []byte(lines.String())); err != nil {
		return "", err
	}
	prog := filepath.Join(sd, Program)
	if err := copyExecutable(opt.Program, prog); err != nil {
		return "", fmt.Errorf("copy the sweep program: %w", err)
	}
	array := fmt.Sprintf("1-%d", len(runs))
	if opt.Jobs > 0 {
		array += "%" + strconv.Itoa(opt.Jobs)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "#!/bin/bash\n")
	fmt.Fprintf(&s, "# A tinydigits sweep as a Slurm job array: task N trains line N of %s\n", RunsFile)
	fmt.Fprintf(&s, "# into %s (written by go run ./sweep -slurm; submit with sbatch).\n", abs)
	fmt.Fprintf(&s, "#SBATCH --job-name=%s\n", shellWord(opt.Name))
	fmt.Fprintf(&s, "#SBATCH --array=%s\n", array)
	writeResources(&s, opt)
	fmt.Fprintf(&s, "#SBATCH --output=%s/%%A_%%a.out\n", sd)
	for _, e := range opt.Extra {
		fmt.Fprintf(&s, "#SBATCH %s\n", e)
	}
	fmt.Fprintf(&s, "# Slurm stops a task with SIGTERM: the run saves its checkpoint at the\n")
	fmt.Fprintf(&s, "# batch boundary, and submitting the script again resumes it.\n")
	fmt.Fprintf(&s, "exec %s -task \"$SLURM_ARRAY_TASK_ID\" %s\n", shellQuote(prog), shellQuote(abs))
	script := filepath.Join(sd, ScriptFile)
	if err := atomicfile.Write(script, []byte(s.String())); err != nil {
		return "", err
	}
	return script, os.Chmod(script, 0o755)
}

// ReadLine reads task n's line (1-based) from the sweep in dir.
func ReadLine(dir string, n int) (Line, error) {
	path := filepath.Join(dir, Folder, RunsFile)
	f, err := os.Open(path)
	if err != nil {
		return Line{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for i := 1; sc.Scan(); i++ {
		if i != n {
			continue
		}
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return Line{}, fmt.Errorf("%s line %d: %v", path, n, err)
		}
		return l, nil
	}
	if err := sc.Err(); err != nil {
		return Line{}, err
	}
	return Line{}, fmt.Errorf("%s has no line %d", path, n)
}

// Run is the line as a grid run.
func (l Line) Run() grid.Run {
	r := grid.Run{Dir: l.Dir, Args: l.Args}
	r.Config = filepath.Dir(l.Dir)
	return r
}

// Submit calls sbatch on the script and returns its output ("Submitted
// batch job N").
func Submit(script string) (string, error) {
	if _, err := exec.LookPath("sbatch"); err != nil {
		return "", errors.New("sbatch is not on PATH: run this on a Slurm login node, or submit " + script + " there")
	}
	out, err := exec.Command("sbatch", script).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sbatch: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// Stage copies the sweep program (and, when data is true, the bundled
// MNIST files or those of $TINYDIGITS_DATA) into dir/slurm, on the shared
// file system, for jobs that run them on any node; it returns the copied
// program and the data folder ("" without data).
func Stage(dir, program string, data bool, copyData func(to string) error) (prog, dataDir string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", err
	}
	sd := filepath.Join(abs, Folder)
	if err := os.MkdirAll(sd, 0o755); err != nil {
		return "", "", err
	}
	prog = filepath.Join(sd, Program)
	if err := copyExecutable(program, prog); err != nil {
		return "", "", fmt.Errorf("copy the sweep program: %w", err)
	}
	if data {
		dataDir = filepath.Join(sd, DataFolder)
		if err := copyData(dataDir); err != nil {
			return "", "", err
		}
	}
	return prog, dataDir, nil
}

// SubmitJob writes a one-task batch script that runs command (its words
// quoted for the shell) and submits it with sbatch; it returns the job's
// id. Its output goes to dir/slurm/NAME.out.
func SubmitJob(dir, name string, opt Options, command []string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	sd := filepath.Join(abs, Folder)
	var s strings.Builder
	fmt.Fprintf(&s, "#!/bin/bash\n")
	fmt.Fprintf(&s, "#SBATCH --job-name=%s\n", shellWord(opt.Name))
	writeResources(&s, opt)
	fmt.Fprintf(&s, "#SBATCH --output=%s\n", filepath.Join(sd, name+".out"))
	for _, e := range opt.Extra {
		fmt.Fprintf(&s, "#SBATCH %s\n", e)
	}
	words := make([]string, len(command))
	for i, w := range command {
		words[i] = shellQuote(w)
	}
	fmt.Fprintf(&s, "exec %s\n", strings.Join(words, " "))
	script := filepath.Join(sd, name+".sbatch")
	if err := atomicfile.Write(script, []byte(s.String())); err != nil {
		return "", err
	}
	if _, err := exec.LookPath("sbatch"); err != nil {
		return "", errors.New("sbatch is not on PATH: run the search on a Slurm login node")
	}
	out, err := exec.Command("sbatch", "--parsable", script).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sbatch: %v: %s", err, strings.TrimSpace(string(out)))
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	return id, nil
}

// Running reports whether job id is still queued or running.
func Running(id string) (bool, error) {
	out, err := exec.Command("squeue", "-h", "-j", id, "-o", "%i").CombinedOutput()
	text := strings.TrimSpace(string(out))
	switch {
	case err == nil:
		return text != "", nil
	case strings.Contains(text, "Invalid job id"):
		return false, nil // finished and forgotten
	}
	return false, fmt.Errorf("squeue: %v: %s", err, text)
}

// Cancel asks Slurm to stop job id: SIGTERM, which a run takes as Ctrl-C
// (a checkpoint at the batch boundary).
func Cancel(id string) error {
	return exec.Command("scancel", id).Run()
}

// copyExecutable copies the program to dst (0755), so that the array runs
// the program that wrote it even after `go run` removed its own copy.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := atomicfile.WriteFunc(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755)
}

func shellWord(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '"' || r == '\'' {
			return '_'
		}
		return r
	}, s)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeResources writes a job's #SBATCH lines for what one task needs: one
// task, its threads as CPUs, its memory estimate, a GPU for CUDA.
func writeResources(s *strings.Builder, opt Options) {
	fmt.Fprintf(s, "#SBATCH --ntasks=1\n")
	fmt.Fprintf(s, "#SBATCH --cpus-per-task=%d\n", opt.Threads)
	if opt.MemMB > 0 {
		fmt.Fprintf(s, "#SBATCH --mem=%dM\n", opt.MemMB)
	}
	if strings.HasPrefix(opt.Device, "cuda") {
		fmt.Fprintf(s, "#SBATCH --gres=gpu:1\n")
	}
}
