// Command sweepbench measures how a sweep should use this machine's cores
// and writes the figures into BENCHMARKS.md (between its sweep markers):
//
//   - threads: one run's training speed (step3, batch 64, engine.Bench via
//     gobench) at 1, 2, 4, … threads up to the cores;
//   - side by side: as many one-thread runs at once as there are cores,
//     their speeds summed, unpinned and (with taskset) pinned to a core each;
//   - four-run sweeps (tiny, then step3; seeds 1-4, 2 epochs each) with the
//     sweep's default pool against the same runs one after another at all
//     cores (-jobs 1 -threads CORES), in ABBA order, wall time.
//
// scripts/bench.sh --sweep builds the programs and runs it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tinydigits/tinydigits/scripts/bench/host"
)

const (
	begin = "<!-- sweep:begin (written by scripts/bench.sh --sweep) -->"
	end   = "<!-- sweep:end -->"
)

var poolLine = regexp.MustCompile(`(\d+ at a time, \d+ threads? each)`)

func main() {
	gobench := flag.String("gobench", "", "the gobench program")
	sweep := flag.String("sweep", "", "the sweep program")
	rounds := flag.Int("rounds", 3, "rounds of the thread measurements")
	batches := flag.Int("batches", 200, "training batches each thread measurement times")
	seeds := flag.Int("seeds", 4, "runs in the sweep comparison")
	archs := flag.String("archs", "tiny,step3", "the nets of the sweep comparison, one sweep each")
	epochs := flag.Int("epochs", 2, "epochs of each run in the sweep comparison")
	work := flag.String("work", os.TempDir(), "a folder for the sweeps' runs")
	write := flag.String("write", "", "replace the sweep section of this markdown file")
	flag.Parse()
	if *gobench == "" || *sweep == "" {
		fmt.Fprintln(os.Stderr, "usage: sweepbench -gobench PROG -sweep PROG [-write BENCHMARKS.md]")
		os.Exit(2)
	}
	cores := runtime.NumCPU()
	var counts []int
	for t := 1; t < cores; t *= 2 {
		counts = append(counts, t)
	}
	counts = append(counts, cores)

	speeds := map[int][]float64{}
	var together, pinned []float64
	_, err := exec.LookPath("taskset")
	taskset := err == nil
	for r := 1; r <= *rounds; r++ {
		for _, t := range counts {
			log("round %d/%d: one run, %d threads", r, *rounds, t)
			speeds[t] = append(speeds[t], benchTrain(*gobench, t, *batches))
		}
		log("round %d/%d: %d one-thread runs at once", r, *rounds, cores)
		together = append(together, benchTogether(*gobench, cores, *batches, false))
		if taskset {
			log("round %d/%d: %d one-thread runs at once, each pinned to a core", r, *rounds, cores)
			pinned = append(pinned, benchTogether(*gobench, cores, *batches, true))
		}
	}

	type comparison struct {
		arch      string
		pool, seq []float64
		poolDesc  string
	}
	var comps []comparison
	for _, arch := range strings.Split(*archs, ",") {
		c := comparison{arch: arch, poolDesc: "?"}
		args := []string{"-arch", arch, "-seeds", fmt.Sprintf("1-%d", *seeds), "-set", fmt.Sprintf("epochs=%d", *epochs)}
		for i, mode := range []string{"pool", "seq", "seq", "pool"} {
			out := filepath.Join(*work, fmt.Sprintf("sweep-%s-%s-%d", arch, mode, i))
			os.RemoveAll(out)
			a := append(append([]string{}, args...), "-out", out)
			if mode == "seq" {
				a = append(a, "-jobs", "1", "-threads", fmt.Sprint(cores))
			}
			log("%s sweep %d/4 (%s): %s", arch, i+1, mode, strings.Join(a, " "))
			t0 := time.Now()
			cmd := exec.Command(*sweep, a...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				fail("sweep: %v\n%s", err, stderr.String())
			}
			secs := time.Since(t0).Seconds()
			if mode == "pool" {
				c.pool = append(c.pool, secs)
				// The pool the sweep chose, from its first line.
				if m := poolLine.FindStringSubmatch(stdout.String()); m != nil {
					c.poolDesc = m[1]
				}
			} else {
				c.seq = append(c.seq, secs)
			}
			os.RemoveAll(out)
		}
		comps = append(comps, c)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s, %d cores, by `bash scripts/bench.sh --sweep`.\n\n", time.Now().Format("2006-01-02"), host.CPU(), cores)
	fmt.Fprintf(&b, "One run's training speed by libtorch threads (step3, batch 64, rotation, %d batches; median of %d rounds):\n\n", *batches, *rounds)
	fmt.Fprintln(&b, "| threads | train img/s | vs 1 thread |")
	fmt.Fprintln(&b, "|---|---|---|")
	one := median(speeds[1])
	for _, t := range counts {
		m := median(speeds[t])
		fmt.Fprintf(&b, "| %d | %.0f | %.2f× |\n", t, m, m/one)
	}
	tm := median(together)
	fmt.Fprintf(&b, "| %d runs × 1 thread, at once | %.0f in total | %.2f× |\n", cores, tm, tm/one)
	if len(pinned) > 0 {
		pm := median(pinned)
		fmt.Fprintf(&b, "| %d runs × 1 thread, at once, each pinned to a core (taskset) | %.0f in total | %.2f× |\n", cores, pm, pm/one)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "%d-run sweeps (seeds 1-%d, %d epochs each, the whole training set), the default pool against the same runs one after another with every core, in ABBA order; wall time in seconds:\n\n", *seeds, *seeds, *epochs)
	fmt.Fprintln(&b, "| net | sweep | wall time (s) | mean | default pool sooner by |")
	fmt.Fprintln(&b, "|---|---|---|---|---|")
	for _, c := range comps {
		pm, sm := mean(c.pool), mean(c.seq)
		fmt.Fprintf(&b, "| %s | default pool (%s) | %s | %.1f | %.2f× |\n", c.arch, c.poolDesc, join(c.pool), pm, sm/pm)
		fmt.Fprintf(&b, "| %s | one after another, %d threads each (-jobs 1 -threads %d) | %s | %.1f | |\n", c.arch, cores, cores, join(c.seq), sm)
	}
	fmt.Print(b.String())
	if *write != "" {
		if err := replaceSection(*write, b.String()); err != nil {
			fail("%v", err)
		}
		log("wrote the sweep section of %s", *write)
	}
}

// benchTrain is gobench's training speed at t threads, run under the
// prefix command if any (taskset).
func benchTrain(gobench string, t, batches int, prefix ...string) float64 {
	argv := append(prefix, gobench, "--threads", fmt.Sprint(t), "--batches", fmt.Sprint(batches))
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		fail("gobench: %v", err)
	}
	var r struct {
		Train float64 `json:"train_img_per_s"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		fail("gobench output %q: %v", out, err)
	}
	return r.Train
}

// benchTogether starts n one-thread gobench processes at once, pinned to
// a core each when pin is set, and sums their training speeds.
func benchTogether(gobench string, n, batches int, pin bool) float64 {
	var wg sync.WaitGroup
	res := make([]float64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prefix []string
			if pin {
				prefix = []string{"taskset", "-c", fmt.Sprint(i)}
			}
			res[i] = benchTrain(gobench, 1, batches, prefix...)
		}()
	}
	wg.Wait()
	sum := 0.0
	for _, x := range res {
		sum += x
	}
	return sum
}

// replaceSection puts text between the sweep markers of the file, adding
// them at its end if missing.
func replaceSection(path, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q markers", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + text + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func join(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}

func log(format string, args ...any) { fmt.Fprintf(os.Stderr, "sweepbench: "+format+"\n", args...) }

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sweepbench: "+format+"\n", args...)
	os.Exit(1)
}
