// Command results tabulates the study's runs beside the seed's figures:
//
//	go run ./scripts/results runs > runs/RESULTS.md
//
// It reads RUNS/step1/summary.json, step2 and step3, and skips missing ones.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/runfolder"
)

// The seed study's reported figures (docs/study.md): parameters, train and
// test accuracy.
var seed = map[string]struct {
	params      string
	train, test float64
}{
	"step1": {"40,202", 99.62, 99.09},
	"step2": {"8,582", 98.73, 99.22},
	"step3": {"8,442", 98.56, 99.41},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/results RUNS_FOLDER")
		os.Exit(2)
	}
	var rows []string
	var env string
	for _, arch := range []string{"step1", "step2", "step3"} {
		s, err := runfolder.ReadResult(filepath.Join(os.Args[1], arch))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "results:", err)
			os.Exit(1)
		}
		last := make([]string, len(s.LastTestAccs))
		for i, a := range s.LastTestAccs {
			last[i] = fmt.Sprintf("%.2f", a)
		}
		sd := seed[arch]
		rows = append(rows, fmt.Sprintf("| %s | %s | %d | %.2f / %.2f | %.2f (epoch %d) | %s | %s | %.1f min | %s / %.2f / %.2f |",
			arch, models.Thousands(s.Params), len(s.Epochs), s.BestTrainAcc, s.LastTrainAcc, s.BestTestAcc, s.BestEpoch,
			strings.Join(last, ", "), yesNo(s.Consistent), s.WallSeconds/60, sd.params, sd.train, sd.test))
		env = fmt.Sprintf("seed %d, device %s, %d threads, libtorch %s, %d CPUs", s.Seed, s.Device, s.Threads, s.Libtorch, runtime.NumCPU())
	}
	if len(rows) == 0 {
		fmt.Fprintf(os.Stderr, "results: no runs/stepN/summary.json under %s\n", os.Args[1])
		os.Exit(1)
	}
	fmt.Printf("# Results (%s)\n\n%s\n\n", time.Now().Format("2006-01-02"), env)
	fmt.Println("| step | params | epochs | train acc best / last (%) | best test acc (%) | last 3 test acc (%) | all last 3 ≥ 99.4 | wall time | seed: params / train / test |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	fmt.Println(strings.Join(rows, "\n"))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
