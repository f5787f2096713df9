package transforms

import (
	"errors"
	"image"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tinydigits/tinydigits/data/mnist"
)

func grayImage(w, h int, f func(x, y int) uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Pix[y*img.Stride+x] = f(x, y)
		}
	}
	return img
}

// Pictures without a digit get ErrNoDigit, not a digit.
func TestFitDigitRefusesPicturesWithoutADigit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, img := range map[string]image.Image{
		"uniform grey 128": grayImage(28, 28, func(int, int) uint8 { return 128 }),
		"white":            grayImage(40, 30, func(int, int) uint8 { return 255 }),
		"black":            grayImage(40, 30, func(int, int) uint8 { return 0 }),
		"grey ± 10 noise":  grayImage(64, 64, func(int, int) uint8 { return uint8(120 + rng.IntN(21)) }),
		"grey gradient":    grayImage(100, 100, func(x, _ int) uint8 { return uint8(100 + x/5) }),
		"specks on black": grayImage(200, 200, func(x, y int) uint8 {
			if (x*7+y*13)%997 == 0 {
				return 255
			}
			return 0
		}),
		"filled square on white": grayImage(60, 60, func(x, y int) uint8 {
			if x > 10 && x < 50 && y > 10 && y < 50 {
				return 0
			}
			return 255
		}),
	} {
		if pix, err := FitDigit(img); !errors.Is(err, ErrNoDigit) {
			t.Errorf("%s: got %v (%d pixels), want ErrNoDigit", name, err, len(pix))
		}
	}
}

// Every MNIST test image is accepted (the rule's thresholds come from
// MNIST's statistics, so none may fall outside), and so is a faint digit
// on grey paper, whose levels come out stretched to MNIST's 0 and 255.
func TestFitDigitAcceptsDigits(t *testing.T) {
	ds, err := mnist.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Test.Len() {
		img := grayImage(28, 28, func(x, y int) uint8 { return ds.Test.Image(i)[y*28+x] })
		if _, err := FitDigit(img); err != nil {
			t.Fatalf("test image %d: %v", i, err)
		}
	}
	digit := ds.Test.Image(0)
	faint := grayImage(56, 56, func(x, y int) uint8 { return 160 - uint8(int(digit[(y/2)*28+x/2])*50/255) })
	pix, err := FitDigit(faint)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 255, 0
	for _, p := range pix {
		lo, hi = min(lo, int(p)), max(hi, int(p))
	}
	if lo != 0 || hi < 250 {
		t.Errorf("faint digit fitted to levels %d..%d, want 0..255", lo, hi)
	}
}

// The statistics the no-digit rule comes from, over all 70,000 MNIST
// images (go test ./transforms -run TestMNISTInkStatistics -v prints them):
// each image's peak, its background (the border's median) and the share of
// the frame its ink (pixels above half the peak) covers. Every image must
// pass the rule with room to spare.
func TestMNISTInkStatistics(t *testing.T) {
	ds, err := mnist.Load("")
	if err != nil {
		t.Fatal(err)
	}
	minPeak, maxBorder, minInk, maxInk := 255, 0, 1.0, 0.0
	for _, set := range []*mnist.Set{ds.Train, ds.Test} {
		for i := range set.Len() {
			pix := set.Image(i)
			peak := 0
			var edge []int
			for k, p := range pix {
				peak = max(peak, int(p))
				if x, y := k%28, k/28; x == 0 || y == 0 || x == 27 || y == 27 {
					edge = append(edge, int(p))
				}
			}
			slices.Sort(edge)
			border := edge[len(edge)/2]
			ink := 0
			for _, p := range pix {
				if int(p) > peak/2 {
					ink++
				}
			}
			frac := float64(ink) / 784
			minPeak, maxBorder = min(minPeak, peak), max(maxBorder, border)
			minInk, maxInk = min(minInk, frac), max(maxInk, frac)
		}
	}
	t.Logf("70,000 MNIST images: peak ≥ %d, border medians ≤ %d, ink covers %.1f%%–%.1f%% of the frame", minPeak, maxBorder, 100*minInk, 100*maxInk)
	if minPeak-maxBorder < MinContrast || minInk < MinInk || maxInk > MaxInk {
		t.Errorf("MNIST falls outside the rule (contrast ≥ %d, ink %.0f%%–%.0f%%)", MinContrast, 100*MinInk, 100*MaxInk)
	}
}
