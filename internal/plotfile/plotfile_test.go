package plotfile

import (
	"testing"
)

// Every epoch gets a tick; labels go to epochs 1, 1+step, ... with step
// the smallest that keeps them at most about the number asked for.
func TestEpochTicks(t *testing.T) {
	for _, tc := range []struct {
		n, labels int
		want      []string // the labelled epochs
	}{
		{3, 20, []string{"1", "2", "3"}},
		{20, 20, nil},
		{45, 20, []string{"1", "4", "7", "43"}},
		{25, 10, []string{"1", "4", "25"}},
	} {
		ticks := EpochTicks(tc.n, tc.labels).Ticks(1, float64(tc.n))
		if len(ticks) != tc.n {
			t.Fatalf("%d epochs: %d ticks", tc.n, len(ticks))
		}
		labelled := map[string]bool{}
		count := 0
		for _, tk := range ticks {
			if tk.Label != "" {
				labelled[tk.Label] = true
				count++
			}
		}
		if count > tc.labels {
			t.Errorf("%d epochs, %d labels asked: %d labelled", tc.n, tc.labels, count)
		}
		for _, w := range tc.want {
			if !labelled[w] {
				t.Errorf("%d epochs, %d labels: epoch %s not labelled", tc.n, tc.labels, w)
			}
		}
	}
}
