package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// Every numeric flag, given 0, a negative number, NaN, ±Inf and a huge
// number: each value is either accepted (the dry run trains) or refused
// with exit status 2 and one line naming the flag, before anything large
// is allocated. A numeric flag missing from the table fails the test, so a
// new flag must say how it treats these values.
func TestNumericFlagEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("about 70 dry runs")
	}
	// The values each flag accepts; every other value must be refused.
	accepts := map[string][]string{
		"epochs":          nil,
		"batch-size":      nil,
		"test-batch-size": {"huge"}, // clamped to the images evaluated, said in the banner
		"lr":              nil,
		"momentum":        {"0"},
		"step-size":       {"0", "huge"}, // 0 = constant lr; a huge period never steps
		"gamma":           nil,
		"pct-start":       nil,
		"weight-decay":    {"0"},
		"label-smoothing": {"0"},
		"rotate":          {"0"},
		"translate":       {"0"},
		"ema":             {"0"},
		"swa-start":       {"0"}, // 0 = off; the run's 15 epochs bound it
		"seed":            {"0", "huge"},
		"subset":          {"0"}, // 0 = all
		"holdout":         {"0"},
		"workers":         nil,
		"threads":         nil,
		"log-interval":    {"huge"},
		"target":          nil,
		"stop-after":      {"0", "huge"}, // 0 = to the end; beyond the epochs runs to the end
	}
	c := helpConfig()
	fs := newOptions(&c, new(string)).fs
	var numeric []*pflag.Flag
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "int", "int64", "uint64", "float64":
			numeric = append(numeric, f)
		}
	})
	if len(numeric) != len(accepts) {
		var names []string
		for _, f := range numeric {
			names = append(names, f.Name)
		}
		t.Fatalf("numeric flags %v; the table has %d", names, len(accepts))
	}
	for _, f := range numeric {
		ok, known := accepts[f.Name]
		if !known {
			t.Errorf("-%s is not in the table", f.Name)
			continue
		}
		huge := "1000000000000"
		switch f.Value.Type() {
		case "float64":
			huge = "1e300"
		case "uint64":
			huge = "18446744073709551615"
		}
		for _, v := range []string{"0", "-1", "NaN", "Inf", "-Inf", "huge"} {
			arg := v
			if v == "huge" {
				arg = huge
			}
			args := []string{"-arch", "step3", "-dry-run", "-quiet", "--" + f.Name + "=" + arg}
			if f.Name != "threads" {
				args = append(args, "-threads", "1")
			}
			var stdout, stderr bytes.Buffer
			code := Main(args, &stdout, &stderr)
			msg := strings.TrimSpace(stderr.String())
			switch {
			case slices.Contains(ok, v):
				if code != 0 {
					t.Errorf("-%s %s: exit %d, want it accepted: %s", f.Name, arg, code, msg)
				}
			case code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, "-"+f.Name):
				t.Errorf("-%s %s: exit %d, stderr %q; want exit 2 and one line naming the flag", f.Name, arg, code, msg)
			}
		}
	}
}
