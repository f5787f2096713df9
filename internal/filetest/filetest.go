// Package filetest holds what tests of written files share: reading back a
// picture, a CSV file, and checking that a text holds given lines.
package filetest

import (
	"encoding/csv"
	"image/png"
	"os"
	"strings"
	"testing"
)

// PNG fails the test when path is not a PNG image at least minWidth pixels
// wide (a missing file ends the test at once).
func PNG(t testing.TB, path string, minWidth int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < minWidth {
		t.Errorf("%s: %v", path, err)
	}
}

// CSV reads a CSV file's rows.
func CSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

// Contains fails the test for each of wants that text does not hold,
// naming text as what.
func Contains(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, text)
		}
	}
}
