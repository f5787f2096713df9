// Command damage is the body of scripts/damage-check.sh: it writes damaged
// copies of a run's model.pt and checkpoint.pt and runs the commands on
// each, counting the outcomes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/transforms"
)

func main() {
	train := flag.String("train", "", "the train binary")
	predict := flag.String("predict", "", "the predict binary")
	run := flag.String("run", "", "a finished run folder")
	digit := flag.String("digit", "", "a PNG for predict")
	seed := flag.Uint64("seed", 1000, "first seed of the byte changes")
	work := flag.String("work", "", "scratch folder")
	writeDigit := flag.String("write-digit", "", "write MNIST test image 0 as a PNG here and exit")
	flag.Parse()
	if *writeDigit != "" {
		ds, err := mnist.Load("")
		check(err)
		f, err := os.Create(*writeDigit)
		check(err)
		check(png.Encode(f, transforms.DigitImage(ds.Test.Image(0))))
		check(f.Close())
		return
	}
	bad := 0
	for _, name := range []string{"model.pt", "checkpoint.pt"} {
		data, err := os.ReadFile(filepath.Join(*run, name))
		check(err)
		cases := map[string][]byte{}
		for k := 1; k < 50; k++ {
			cases[fmt.Sprintf("cut%02d", k)] = data[:len(data)*k/50]
		}
		for i := range 50 {
			rng := rand.New(rand.NewPCG(*seed+uint64(i), 0))
			b := bytes.Clone(data)
			for range 8 {
				j := rng.IntN(len(b))
				b[j] += byte(1 + rng.IntN(255))
			}
			cases[fmt.Sprintf("flip%02d", i)] = b
		}
		counts := map[string]int{}
		for tag, content := range cases {
			dir := filepath.Join(*work, name+"-"+tag)
			check(os.MkdirAll(dir, 0o755))
			file := filepath.Join(dir, name)
			check(os.WriteFile(file, content, 0o644))
			cmds := [][]string{{*train, "-eval", file, "-arch", "tiny", "-threads", "1"}}
			if name == "checkpoint.pt" {
				cmds = append(cmds, []string{*train, "-resume", dir, "-threads", "1", "-quiet"})
			} else {
				cmds = append(cmds, []string{*predict, "-model", file, "-arch", "tiny", *digit})
			}
			for _, c := range cmds {
				var stderr bytes.Buffer
				cmd := exec.Command(c[0], c[1:]...)
				cmd.Stderr = &stderr
				cmd.Run()
				after, _ := os.ReadFile(file)
				entries, _ := os.ReadDir(dir)
				lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1
				ok := cmd.ProcessState.ExitCode() == 2 && lines == 1 && bytes.Equal(after, content) && len(entries) == 1
				what := filepath.Base(c[0]) + " " + c[1]
				if ok {
					counts[what+": exit 2, one line, folder unchanged"]++
				} else {
					counts[fmt.Sprintf("%s: exit %d, %d lines (%s)", what, cmd.ProcessState.ExitCode(), lines, tag)]++
					bad++
				}
			}
		}
		for k, n := range counts {
			fmt.Printf("%s, %s: %d of %d\n", name, k, n, len(cases))
		}
	}
	if bad > 0 {
		fmt.Printf("%d damaged files were not refused cleanly\n", bad)
		os.Exit(1)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "damage:", err)
		os.Exit(1)
	}
}
