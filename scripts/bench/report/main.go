// Command report turns scripts/bench.sh's measurements into a table: the
// median of the rounds for each implementation and thread count, the ratios
// against the C++ reference and the Python pipeline, resident memory over a
// 3-epoch run, and a full run's wall time. With -write it replaces the
// measured section of BENCHMARKS.md (between its bench markers), keeping the
// rest of the file.
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tinydigits/tinydigits/scripts/bench/host"
)

type sample struct {
	Round   int     `json:"round"`
	Impl    string  `json:"impl"`
	Threads int     `json:"threads"`
	Train   float64 `json:"train_img_per_s"`
	Eval    float64 `json:"eval_img_per_s"`
	PeakRSS float64 `json:"peak_rss_mb"`
}

const (
	begin = "<!-- bench:begin (written by scripts/bench.sh) -->"
	end   = "<!-- bench:end -->"
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	results := flag.String("results", "", "JSON lines from the three programs")
	epochs := flag.String("epochs", "", "metrics.csv of a 3-epoch run")
	full := flag.String("full", "", "summary.json of a full step3 run")
	write := flag.String("write", "", "the BENCHMARKS.md to update")
	gotest := flag.String("gotest", "", "the Benchmark lines of go test -bench")
	flag.Parse()
	if *results == "" {
		fmt.Fprintln(os.Stderr, "report: -results is required")
		os.Exit(2)
	}
	table, err := report(*results, *epochs, *full, *gotest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	fmt.Print(table)
	if *write != "" {
		if err := update(*write, table); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "report: wrote %s\n", *write)
	}
}

func report(results, epochs, full, gotest string) (string, error) {
	data, err := os.ReadFile(results)
	if err != nil {
		return "", err
	}
	type key struct {
		impl    string
		threads int
	}
	groups := map[key][]sample{}
	rounds := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var s sample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			return "", fmt.Errorf("%s: %v", results, err)
		}
		groups[key{s.Impl, s.Threads}] = append(groups[key{s.Impl, s.Threads}], s)
		rounds = max(rounds, s.Round)
	}
	med := func(k key, f func(sample) float64) float64 {
		var xs []float64
		for _, s := range groups[k] {
			xs = append(xs, f(s))
		}
		return median(xs)
	}
	names := map[string]string{"go": "Go (tinydigits)", "cpp": "C++ reference", "python": "PyTorch Python (seed pipeline)"}
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s, %d cores; step3, batch 64, SGD; medians of %d interleaved rounds (Go, C++, Python, at 1 then 2 threads).\n\n",
		time.Now().Format("2006-01-02"), host.CPU(), runtime.NumCPU(), rounds)
	b.WriteString("| threads | implementation | train img/s | eval img/s | peak RSS (MB) |\n|---|---|---|---|---|\n")
	for _, t := range []int{1, 2} {
		for _, impl := range []string{"go", "cpp", "python"} {
			k := key{impl, t}
			if len(groups[k]) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.0f |\n", t, names[impl],
				med(k, func(s sample) float64 { return s.Train }), med(k, func(s sample) float64 { return s.Eval }),
				med(k, func(s sample) float64 { return s.PeakRSS }))
		}
	}
	b.WriteString("\n| threads | Go / C++ train | Go / C++ eval | Go / Python train | Go / Python eval |\n|---|---|---|---|---|\n")
	for _, t := range []int{1, 2} {
		ratio := func(other string, f func(sample) float64) string {
			o := med(key{other, t}, f)
			if o == 0 {
				return "–"
			}
			return fmt.Sprintf("%.2f", med(key{"go", t}, f)/o)
		}
		train := func(s sample) float64 { return s.Train }
		eval := func(s sample) float64 { return s.Eval }
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", t, ratio("cpp", train), ratio("cpp", eval), ratio("python", train), ratio("python", eval))
	}
	if epochs != "" {
		rss, err := epochRSS(epochs)
		if err != nil {
			return "", err
		}
		parts := make([]string, len(rss))
		for i, r := range rss {
			parts[i] = fmt.Sprintf("%.1f", r)
		}
		fmt.Fprintf(&b, "\nResident memory of a step3 training run at the end of epochs 1–%d: %s MB", len(rss), strings.Join(parts, ", "))
		if len(rss) > 1 {
			fmt.Fprintf(&b, " (last vs first: %+.1f%%)", 100*(rss[len(rss)-1]/rss[0]-1))
		}
		b.WriteString(".\n")
	}
	if full != "" {
		data, err := os.ReadFile(full)
		if err != nil {
			return "", err
		}
		var s struct {
			Wall  float64   `json:"wall_seconds"`
			Best  float64   `json:"best_test_acc"`
			Last3 []float64 `json:"last3_test_acc"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "A full step3 run (15 epochs, 2 threads, evaluation every epoch): %.1f minutes; best test accuracy %.2f%%, last three %v.\n",
			s.Wall/60, s.Best, s.Last3)
	}
	if gotest != "" {
		lines, err := os.ReadFile(gotest)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\n`go test -bench 'Pipeline|TrainStep|EMAUpdate' ./transforms ./train/engine` (the pipeline alone on one goroutine; one training step with all cores; one update of step3's averaged weights, which -ema adds to every step):\n\n```\n%s```\n", lines)
	}
	return b.String(), nil
}

// epochRSS reads the rss_mb column of metrics.csv.
func epochRSS(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	col := -1
	for i, name := range rows[0] {
		if name == "rss_mb" {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%s has no rss_mb column", path)
	}
	var out []float64
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[col], 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// update replaces the text between the markers of path (or appends a new
// section).
func update(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := begin + "\n" + table + end
	text := string(old)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	switch {
	case i >= 0 && j > i:
		text = text[:i] + section + text[j+len(end):]
	case text == "":
		text = "# Benchmarks\n\n" + section + "\n"
	default:
		text = strings.TrimRight(text, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
