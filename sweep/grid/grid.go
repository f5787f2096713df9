// Package grid is what a sweep runs: nets, settings and seeds, given as
// flags or as a sweep file, expanded into one ordinary train run per
// combination, each checked before the first one starts.
//
// A configuration is an arch with one value of every setting; its runs are
// its seeds. Each run has a folder under the sweep folder named by what
// varies: "tiny,batch-size=32,lr=0.05/seed1". Settings with one value apply
// to every run and stay out of the names.
package grid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/models"
	"github.com/tinydigits/tinydigits/train/cli"
)

// MaxRuns bounds a sweep's size: far beyond any sweep that finishes, small
// enough that a typo (-seeds 1-1000000000) is refused before it allocates.
const MaxRuns = 100000

// Spec is a sweep: the nets, the settings each takes every value of, and
// the seeds.
type Spec struct {
	// Archs are registered names or arch files' paths.
	Archs []string
	// Seeds are the seeds every configuration runs with.
	Seeds []uint64
	// Set maps a train flag (without its dash) to the values it takes, as
	// flag text.
	Set map[string][]string
}

// Run is one train run of a sweep.
type Run struct {
	Config string   // the configuration's folder: "tiny,lr=0.05"
	Arch   string   // as given: a name or an arch file's path
	Seed   uint64   //
	Dir    string   // the run's folder, relative to the sweep folder
	Args   []string // the train flags that make the run, less -out, -threads and -device
}

// reserved are train flags a sweep sets itself or that are not runs.
var reserved = map[string]string{
	"arch":        "give nets with -arch (or \"archs\" in a sweep file)",
	"seed":        "give seeds with -seeds (or \"seeds\" in a sweep file)",
	"out":         "each run's folder is named by its settings under the sweep's -out",
	"resume":      "running the sweep again resumes its unfinished runs",
	"overwrite":   "the sweep keeps finished runs; remove a run's folder to run it again",
	"continue":    "running the sweep again continues its runs",
	"stop-after":  "a search sets it for its rungs",
	"eval":        "not a training run",
	"pytorch":     "not a training run",
	"export-arch": "not a training run",
	"dry-run":     "use the sweep's -dry-run",
	"threads":     "use the sweep's -threads",
	"device":      "use the sweep's -device",
	"quiet":       "the sweep's runs are always quiet",
	"help":        "not a training run",
}

// ParseSeeds reads "1-5", "1,2,7" or a mix ("1-3,10").
func ParseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seeds %q: %q is not a seed or a range like 1-5", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("seeds %q: %q is not a range like 1-5", s, part)
			}
		}
		if b-a >= MaxRuns || len(seeds)+int(b-a) >= MaxRuns {
			return nil, fmt.Errorf("seeds %q: more than %d seeds", s, MaxRuns)
		}
		for x := a; ; x++ {
			seeds = append(seeds, x)
			if x == b {
				break
			}
		}
	}
	return seeds, nil
}

// ParseSet reads one -set: "lr=0.05,0.1" into its flag and values.
func ParseSet(s string) (string, []string, error) {
	name, vals, ok := strings.Cut(s, "=")
	name = strings.TrimLeft(strings.TrimSpace(name), "-")
	if !ok || name == "" || strings.TrimSpace(vals) == "" {
		return "", nil, fmt.Errorf("-set %q: want FLAG=VALUE[,VALUE...], e.g. lr=0.05,0.1", s)
	}
	var out []string
	for _, v := range strings.Split(vals, ",") {
		out = append(out, strings.TrimSpace(v))
	}
	return name, out, nil
}

// fileSpec is a sweep file:
//
//	{
//	  "archs": ["tiny", "nets/my-net.json"],
//	  "seeds": "1-5",
//	  "set": {"lr": [0.05, 0.1], "batch-size": [32, 64], "epochs": 15}
//	}
//
// Seeds are a list or a string as -seeds takes; a setting's values are a
// list or one value, numbers or strings. Arch files are relative to the
// sweep file.
type fileSpec struct {
	Archs []string                   `json:"archs"`
	Seeds json.RawMessage            `json:"seeds"`
	Set   map[string]json.RawMessage `json:"set"`
}

// ReadFile reads a sweep file.
func ReadFile(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	s, err := parseFile(data, filepath.Dir(path))
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func parseFile(data []byte, dir string) (Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var f fileSpec
	if err := dec.Decode(&f); err != nil {
		return Spec{}, fmt.Errorf("invalid sweep file: %v", err)
	}
	if dec.More() {
		return Spec{}, errors.New("invalid sweep file: text after the JSON object")
	}
	var s Spec
	for _, a := range f.Archs {
		if _, err := models.Lookup(a); err != nil && !filepath.IsAbs(a) {
			a = filepath.Join(dir, a)
		}
		s.Archs = append(s.Archs, a)
	}
	if len(f.Seeds) > 0 {
		var text string
		var list []uint64
		switch {
		case json.Unmarshal(f.Seeds, &text) == nil:
			seeds, err := ParseSeeds(text)
			if err != nil {
				return Spec{}, err
			}
			s.Seeds = seeds
		case json.Unmarshal(f.Seeds, &list) == nil:
			s.Seeds = list
		default:
			return Spec{}, fmt.Errorf("\"seeds\" must be a list of seeds or a string like \"1-5\", got %s", f.Seeds)
		}
	}
	s.Set = map[string][]string{}
	for name, raw := range f.Set {
		var vals []json.RawMessage
		if json.Unmarshal(raw, &vals) != nil {
			vals = []json.RawMessage{raw}
		}
		for _, v := range vals {
			var text string
			if json.Unmarshal(v, &text) != nil {
				var n json.Number
				if err := json.Unmarshal(v, &n); err != nil {
					return Spec{}, fmt.Errorf("set %q: %s is neither a number nor a string", name, v)
				}
				text = n.String()
			}
			s.Set[name] = append(s.Set[name], text)
		}
		if len(vals) == 0 {
			return Spec{}, fmt.Errorf("set %q: no values", name)
		}
	}
	return s, nil
}

// Expand checks the spec and returns its runs: every arch × every
// combination of the settings' values × every seed, each parsed and
// validated as the train command would. The first problem found is the
// error, naming the run.
func (s Spec) Expand() ([]Run, error) {
	if len(s.Archs) == 0 {
		return nil, errors.New("no nets: give -arch NAME[,NAME...] (names or arch files)")
	}
	if len(s.Seeds) == 0 {
		return nil, errors.New("no seeds: give -seeds, e.g. -seeds 1-3")
	}
	if dup := firstDuplicate(s.Seeds); dup != "" {
		return nil, fmt.Errorf("seed %s is given twice", dup)
	}
	names, err := s.settings()
	if err != nil {
		return nil, err
	}
	archNames := map[string]string{}
	var runs []Run
	for _, arch := range s.Archs {
		label, err := archLabel(arch)
		if err != nil {
			return nil, err
		}
		if other, ok := archNames[label]; ok {
			return nil, fmt.Errorf("-arch: %s and %s would share the folder name %q", other, arch, label)
		}
		archNames[label] = arch
		argArch := arch
		if _, err := models.Lookup(arch); err != nil {
			// An arch file by its absolute path: a Slurm task may start
			// in another folder.
			if abs, err := filepath.Abs(arch); err == nil {
				argArch = abs
			}
		}
		for _, combo := range combinations(names, s.Set) {
			config := label
			var flags []string
			for i, n := range names {
				// One argument, so that boolean flags take their value too.
				flags = append(flags, "-"+n+"="+combo[i])
				if len(s.Set[n]) > 1 {
					config += "," + n + "=" + combo[i]
				}
			}
			for i, seed := range s.Seeds {
				args := append([]string{"-arch", argArch}, flags...)
				args = append(args, "-seed", strconv.FormatUint(seed, 10))
				r := Run{Config: config, Arch: arch, Seed: seed, Dir: filepath.Join(config, fmt.Sprintf("seed%d", seed)), Args: args}
				if i == 0 { // the seed does not change what is valid
					if _, err := cli.Parse(r.Args); err != nil {
						return nil, fmt.Errorf("%s: %v", config, err)
					}
				}
				runs = append(runs, r)
			}
		}
	}
	return runs, nil
}

// settings checks the settings' names and values and returns the names in
// order, refusing a sweep of more than MaxRuns runs.
func (s Spec) settings() ([]string, error) {
	names := make([]string, 0, len(s.Set))
	for name, vals := range s.Set {
		if why, ok := reserved[name]; ok {
			return nil, fmt.Errorf("-set %s: not a sweep setting (%s)", name, why)
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("-set %s: no values", name)
		}
		if dup := firstDuplicate(vals); dup != "" {
			return nil, fmt.Errorf("-set %s: value %s is given twice", name, dup)
		}
		for _, v := range vals {
			if v == "" || len(vals) > 1 && strings.ContainsAny(v, "/,= \t\n") {
				// A value that varies names folders.
				return nil, fmt.Errorf("-set %s: value %q must be one word without / , or =", name, v)
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	total := float64(len(s.Archs)) * float64(len(s.Seeds))
	for _, n := range names {
		total *= float64(len(s.Set[n]))
	}
	if total > MaxRuns || math.IsInf(total, 0) {
		return nil, fmt.Errorf("%.0f runs is more than a sweep takes (%d)", total, MaxRuns)
	}
	return names, nil
}

// archLabel is the folder name of an arch: its registered name, or the arch
// file's name without .json (the file is read and checked here).
func archLabel(arch string) (string, error) {
	if _, err := models.Lookup(arch); err == nil {
		return arch, nil
	}
	if _, err := models.Resolve(arch); err != nil {
		return "", fmt.Errorf("-arch: %v", err)
	}
	label := strings.TrimSuffix(filepath.Base(arch), ".json")
	if label == "" || strings.ContainsAny(label, ",= \t\n") {
		return "", fmt.Errorf("-arch %s: rename the file: its name (%q) makes the folder name, without , = or spaces", arch, label)
	}
	return label, nil
}

// combinations lists every choice of one value per setting, the first
// setting varying slowest.
func combinations(names []string, set map[string][]string) [][]string {
	out := [][]string{{}}
	for _, n := range names {
		var next [][]string
		for _, prefix := range out {
			for _, v := range set[n] {
				next = append(next, append(slices.Clone(prefix), v))
			}
		}
		out = next
	}
	return out
}

func firstDuplicate[T comparable](xs []T) string {
	seen := map[T]bool{}
	for _, x := range xs {
		if seen[x] {
			return fmt.Sprint(x)
		}
		seen[x] = true
	}
	return ""
}
