package slurm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
	"github.com/tinydigits/tinydigits/sweep/grid"
)

func TestWriteAndReadLine(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my sweep")
	prog := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755)
	runs := []grid.Run{
		{Config: "tiny", Dir: "tiny/seed1", Args: []string{"-arch", "tiny", "-seed", "1"}},
		{Config: "tiny", Dir: "tiny/seed2", Args: []string{"-arch", "tiny", "-data", "/data/with space", "-seed", "2"}},
	}
	script, err := Write(dir, runs, Options{Threads: 2, Device: "cuda", MemMB: 600, Jobs: 1, Name: "x y", Extra: []string{"--partition=gpu"}, Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(script)
	filetest.Contains(t, "script", string(text), "#SBATCH --array=1-2%1\n", "#SBATCH --cpus-per-task=2\n", "#SBATCH --mem=600M\n", "#SBATCH --gres=gpu:1\n",
		"#SBATCH --partition=gpu\n", "#SBATCH --job-name=x_y\n", `exec '`+dir+`/slurm/sweep' -task "$SLURM_ARRAY_TASK_ID" '`+dir+`'`,
	)
	if info, err := os.Stat(filepath.Join(dir, Folder, Program)); err != nil || info.Mode()&0o111 == 0 {
		t.Errorf("program copy: %v", err)
	}
	l, err := ReadLine(dir, 2)
	if err != nil || l.Task != 2 || l.Dir != "tiny/seed2" || !slices.Equal(l.Args, runs[1].Args) || l.Threads != 2 || l.Device != "cuda" {
		t.Errorf("line 2: %+v %v", l, err)
	}
	if r := l.Run(); r.Config != "tiny" || r.Dir != "tiny/seed2" {
		t.Errorf("run %+v", r)
	}
	if _, err := ReadLine(dir, 3); err == nil || !strings.Contains(err.Error(), "has no line 3") {
		t.Errorf("line 3: %v", err)
	}
}
