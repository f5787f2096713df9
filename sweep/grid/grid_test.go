package grid

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/train/cli"
)

func TestParseSeeds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []uint64
	}{
		{"1", []uint64{1}},
		{"1-5", []uint64{1, 2, 3, 4, 5}},
		{"1,2,7", []uint64{1, 2, 7}},
		{"1-3, 10", []uint64{1, 2, 3, 10}},
		{"0-0", []uint64{0}},
		{"18446744073709551614-18446744073709551615", []uint64{18446744073709551614, 18446744073709551615}},
	} {
		got, err := ParseSeeds(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseSeeds(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "a", "5-1", "1-", "-1", "1-1000000000", "1,,2", "1.5"} {
		if got, err := ParseSeeds(bad); err == nil {
			t.Errorf("ParseSeeds(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseSet(t *testing.T) {
	name, vals, err := ParseSet("lr=0.05, 0.1")
	if err != nil || name != "lr" || !slices.Equal(vals, []string{"0.05", "0.1"}) {
		t.Errorf("got %q %q %v", name, vals, err)
	}
	if name, _, err := ParseSet("--batch-size=32"); err != nil || name != "batch-size" {
		t.Errorf("a leading dash: got %q %v", name, err)
	}
	for _, bad := range []string{"lr", "=0.1", "lr="} {
		if _, _, err := ParseSet(bad); err == nil {
			t.Errorf("ParseSet(%q): want an error", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	s := Spec{
		Archs: []string{"tiny", "step3"},
		Seeds: []uint64{1, 2, 3},
		Set:   map[string][]string{"lr": {"0.05", "0.1"}, "batch-size": {"32", "64"}, "epochs": {"2"}},
	}
	runs, err := s.Expand()
	if err != nil {
		t.Fatal(err)
	}
	// 2 archs × 2 lr × 2 batch sizes × 3 seeds; epochs has one value and
	// stays out of the names.
	if len(runs) != 24 {
		t.Fatalf("%d runs, want 24", len(runs))
	}
	first := runs[0]
	if first.Dir != filepath.Join("tiny,batch-size=32,lr=0.05", "seed1") || first.Seed != 1 || first.Config != "tiny,batch-size=32,lr=0.05" {
		t.Errorf("first run %+v", first)
	}
	want := []string{"-arch", "tiny", "-batch-size=32", "-epochs=2", "-lr=0.05", "-seed", "1"}
	if !slices.Equal(first.Args, want) {
		t.Errorf("args %q, want %q", first.Args, want)
	}
	dirs := map[string]bool{}
	for _, r := range runs {
		if dirs[r.Dir] {
			t.Errorf("folder %s twice", r.Dir)
		}
		dirs[r.Dir] = true
	}
	if last := runs[len(runs)-1]; last.Dir != filepath.Join("step3,batch-size=64,lr=0.1", "seed3") {
		t.Errorf("last run %s", last.Dir)
	}
}

func TestExpandRefuses(t *testing.T) {
	base := func() Spec {
		return Spec{Archs: []string{"tiny"}, Seeds: []uint64{1}, Set: map[string][]string{}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"no archs", func(s *Spec) { s.Archs = nil }, "no nets"},
		{"no seeds", func(s *Spec) { s.Seeds = nil }, "no seeds"},
		{"seed twice", func(s *Spec) { s.Seeds = []uint64{1, 1} }, "seed 1 is given twice"},
		{"unknown arch", func(s *Spec) { s.Archs = []string{"nosuch"} }, "nosuch"},
		{"reserved", func(s *Spec) { s.Set["out"] = []string{"x"} }, "-set out: not a sweep setting"},
		{"threads", func(s *Spec) { s.Set["threads"] = []string{"2"} }, "use the sweep's -threads"},
		{"unknown flag", func(s *Spec) { s.Set["nosuch"] = []string{"1"} }, "unknown flag: --nosuch"},
		{"bad value", func(s *Spec) { s.Set["lr"] = []string{"0.1", "abc"} }, `tiny,lr=abc: invalid argument "abc"`},
		{"bad recipe", func(s *Spec) { s.Set["lr"] = []string{"-1"} }, "-lr"},
		{"value twice", func(s *Spec) { s.Set["lr"] = []string{"0.1", "0.1"} }, "value 0.1 is given twice"},
		{"slash in a varying value", func(s *Spec) { s.Set["data"] = []string{"a/b", "c"} }, "without / , or ="},
		{"too many", func(s *Spec) {
			s.Seeds = make([]uint64, 1000)
			for i := range s.Seeds {
				s.Seeds[i] = uint64(i)
			}
			s.Set["lr"] = make([]string, 101)
			for i := range s.Set["lr"] {
				s.Set["lr"][i] = strings.Repeat("1", i+1)
			}
		}, "more than a sweep takes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			_, err := s.Expand()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to say %q", err, tc.want)
			}
		})
	}
}

// No sweep file crashes the reader or the expansion: each is a spec and
// its runs, or an error.
func FuzzSweepFile(f *testing.F) {
	f.Add([]byte(`{"archs": ["tiny"], "seeds": "1-3", "set": {"lr": [0.05, 0.1], "epochs": 2}}`))
	f.Add([]byte(`{"archs": ["tiny", "step3"], "seeds": [1, 2], "set": {"batch-size": ["32", 64]}}`))
	f.Add([]byte(`{"archs": ["nets/x.json"], "seeds": "1-100000000000"}`))
	f.Add([]byte(`{"set": {"out": "x", "lr": []}}`))
	f.Add([]byte(`{"archs": ["tiny"], "seeds": [18446744073709551615], "set": {"lr": 1e400}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseFile(data, t.TempDir())
		if err != nil {
			return
		}
		if len(s.Seeds) > MaxRuns {
			return // Expand refuses it by count; nothing to learn from allocating it
		}
		runs, err := s.Expand()
		if err == nil && len(runs) == 0 {
			t.Errorf("no error and no runs from %q", data)
		}
	})
}

func TestSweepFile(t *testing.T) {
	dir := t.TempDir()
	arch, err := os.ReadFile(filepath.Join("..", "..", "models", "testdata", "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "nets"), 0o755)
	os.WriteFile(filepath.Join(dir, "nets", "edit-a.json"), arch, 0o644)
	file := filepath.Join(dir, "sweep.json")
	os.WriteFile(file, []byte(`{
  "archs": ["tiny", "nets/edit-a.json"],
  "seeds": "1-2",
  "set": {"lr": [0.05, "0.1"], "epochs": 2}
}`), 0o644)
	s, err := ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Seeds, []uint64{1, 2}) || !slices.Equal(s.Set["lr"], []string{"0.05", "0.1"}) || !slices.Equal(s.Set["epochs"], []string{"2"}) {
		t.Errorf("spec %+v", s)
	}
	if s.Archs[1] != filepath.Join(dir, "nets", "edit-a.json") {
		t.Errorf("arch file %q, want it relative to the sweep file", s.Archs[1])
	}
	runs, err := s.Expand()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 8 || runs[4].Config != "edit-a,lr=0.05" {
		t.Errorf("%d runs, fifth %q", len(runs), runs[4].Config)
	}

	os.WriteFile(file, []byte(`{"archs": ["tiny"], "seeds": [1, 2], "sets": {}}`), 0o644)
	if _, err := ReadFile(file); err == nil || !strings.Contains(err.Error(), `unknown field "sets"`) {
		t.Errorf("unknown field: %v", err)
	}
	os.WriteFile(file, []byte(`{"archs": ["tiny"], "seeds": {"a": 1}}`), 0o644)
	if _, err := ReadFile(file); err == nil || !strings.Contains(err.Error(), `"seeds" must be`) {
		t.Errorf("bad seeds: %v", err)
	}
}

// The flags a sweep refuses in -set are train's own, read from train's flag
// set: a flag renamed in train cannot leave a stale name here.
func TestReservedAreTrainFlags(t *testing.T) {
	names := map[string]bool{"help": true} // pflag's own -h
	for _, n := range cli.FlagNames() {
		names[n] = true
	}
	for name := range reserved {
		if !names[name] {
			t.Errorf("reserved %q is not a train flag", name)
		}
	}
	// And every train flag that is not a run's setting is reserved.
	for _, n := range []string{"arch", "seed", "out", "resume", "overwrite", "continue", "eval", "pytorch", "export-arch", "dry-run", "threads", "device", "quiet"} {
		if _, ok := reserved[n]; !ok {
			t.Errorf("train's -%s is not reserved", n)
		}
	}
}
