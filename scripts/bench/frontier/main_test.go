package main

import (
	"bytes"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/internal/filetest"
)

// The table names, for each committed search, the candidate that search.csv
// (the search's own report) shows at the highest rung with the best mean,
// with its figures there; the picture is drawn.
func TestFrontierOfCommittedSearches(t *testing.T) {
	dirs := []string{"../../../searches/results/step3-budget", "../../../searches/results/under-4k"}
	png := filepath.Join(t.TempDir(), "frontier.png")
	var out bytes.Buffer
	if err := run(&out, dirs, png); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "| under-4k | 4,000 |") || !strings.HasPrefix(lines[3], "| step3-budget | 8,442 |") {
		t.Fatalf("table, by budget:\n%s", out.String())
	}
	for i, dir := range []string{dirs[1], dirs[0]} {
		rows, err := filetest.CSV(filepath.Join(dir, "search.csv"))
		if err != nil {
			t.Fatal(err)
		}
		// The best: the highest reached_epoch (column 2), then the mean
		// accuracy there (acc_epochN).
		col := map[string]int{}
		for j, name := range rows[0] {
			col[name] = j
		}
		var best []string
		bestEpoch, bestAcc := 0, 0.0
		for _, r := range rows[1:] {
			e, _ := strconv.Atoi(r[col["reached_epoch"]])
			acc, _ := strconv.ParseFloat(r[col["acc_epoch"+r[col["reached_epoch"]]]], 64)
			if e > bestEpoch || e == bestEpoch && acc > bestAcc {
				best, bestEpoch, bestAcc = r, e, acc
			}
		}
		params, _ := strconv.ParseInt(best[col["params"]], 10, 64)
		lowest, _ := strconv.ParseFloat(best[col["lowest_epoch"+best[col["reached_epoch"]]]], 64)
		want := strings.Join([]string{
			thousands(params),
			strconv.FormatFloat(bestAcc, 'f', 2, 64) + " (" + strconv.FormatFloat(lowest, 'f', 2, 64) + "), epoch " + strconv.Itoa(bestEpoch) + ", 2 seeds",
		}, " | ")
		if !strings.Contains(lines[2+i], want) {
			t.Errorf("row %q lacks %q (%s in search.csv)", lines[2+i], want, best[0])
		}
	}
	filetest.PNG(t, png, 300)
}

// thousands writes n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// A folder that holds no search is bad input, named in the error.
func TestFrontierRefusesOtherFolders(t *testing.T) {
	dir := t.TempDir()
	err := run(&bytes.Buffer{}, []string{dir}, filepath.Join(dir, "f.png"))
	if !errors.Is(err, errFolder) || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty folder: %v", err)
	}
}
