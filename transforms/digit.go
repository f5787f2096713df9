package transforms

import (
	"errors"
	"fmt"
	"image"
	"math"
	"slices"

	xdraw "golang.org/x/image/draw"

	"github.com/tinydigits/tinydigits/data/mnist"
)

// ErrNoDigit is returned (wrapped, with the reason) by FitDigit for an
// image in which no digit stands out: blank, nearly uniform, only specks, or
// ink over much more of the frame than any MNIST digit covers.
var ErrNoDigit = errors.New("no digit found")

// The rule for "a digit is there", from MNIST's 70,000 images: each has a
// background of 0 and a peak of 254 or 255, and the pixels above half the
// peak (the ink) cover 1.9% to 39.8% of the 28×28 frame (median 12.9%).
// FitDigit asks for a contrast of at least MinContrast grey levels between
// the picture's background and its brightest ink, and, once fitted, ink
// over MinInk to MaxInk of the frame: MNIST's range with a margin.
const (
	MinContrast = 32
	MinInk      = 0.01
	MaxInk      = 0.45
)

func noDigit(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNoDigit, fmt.Sprintf(format, args...))
}

// FitDigit turns a picture of one handwritten digit into a 28×28 MNIST-style
// image, the way the MNIST images were made:
//
//  1. grayscale, with the digit white on black: a picture whose border is
//     mostly light (dark ink on paper) is inverted;
//  2. levels stretched so the background (the median of the border) is 0
//     and the brightest ink 255, as in every MNIST image;
//  3. the digit's bounding box is scaled, keeping its aspect ratio and with
//     anti-aliasing, to fit a 20×20 box;
//  4. it is placed in the 28×28 frame with its centre of mass at the centre.
//
// The result is 784 bytes, row-major, 0 for background. A picture without a
// digit (see MinContrast, MinInk, MaxInk) is an error wrapping ErrNoDigit.
func FitDigit(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return nil, noDigit("the image is empty")
	}
	gray := image.NewGray(image.Rect(0, 0, w, h))
	xdraw.Draw(gray, gray.Bounds(), img, b.Min, xdraw.Src)
	// Dark ink on a light background: the border says which is which.
	border := make([]int, 0, 2*(w+h))
	for x := range w {
		border = append(border, int(gray.Pix[x]), int(gray.Pix[(h-1)*gray.Stride+x]))
	}
	for y := range h {
		border = append(border, int(gray.Pix[y*gray.Stride]), int(gray.Pix[y*gray.Stride+w-1]))
	}
	sum := 0
	for _, v := range border {
		sum += v
	}
	if float64(sum)/float64(len(border)) > 127 {
		for i, p := range gray.Pix {
			gray.Pix[i] = 255 - p
		}
		for i, v := range border {
			border[i] = 255 - v
		}
	}
	slices.Sort(border)
	background := border[len(border)/2]
	brightest := 0
	for _, p := range gray.Pix {
		brightest = max(brightest, int(p))
	}
	contrast := brightest - background
	if contrast < MinContrast {
		return nil, noDigit("the image is blank or nearly uniform (its brightest ink stands %d grey levels above the background; at least %d needed)", max(0, contrast), MinContrast)
	}
	for i, p := range gray.Pix {
		gray.Pix[i] = uint8(min(255, max(0, (int(p)-background)*255/contrast)))
	}
	// The bounding box of the ink: pixels brighter than a fifth of the
	// brightest, so faint noise and JPEG ringing do not widen it.
	const threshold = 255 / 5
	x0, y0, x1, y1 := w, h, -1, -1
	for y := range h {
		for x := range w {
			if gray.Pix[y*gray.Stride+x] > threshold {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	box := image.Rect(x0, y0, x1+1, y1+1)
	scale := 20 / float64(max(box.Dx(), box.Dy()))
	sw, sh := max(1, int(math.Round(float64(box.Dx())*scale))), max(1, int(math.Round(float64(box.Dy())*scale)))
	small := image.NewGray(image.Rect(0, 0, sw, sh))
	xdraw.CatmullRom.Scale(small, small.Bounds(), gray, box, xdraw.Src, nil)

	// Centre of mass of the scaled digit.
	var mx, my, mass float64
	for y := range sh {
		for x := range sw {
			v := float64(small.Pix[y*small.Stride+x])
			mx += (float64(x) + 0.5) * v
			my += (float64(y) + 0.5) * v
			mass += v
		}
	}
	if mass == 0 {
		return nil, noDigit("nothing is left once fitted")
	}
	ox := int(math.Round(14 - mx/mass))
	oy := int(math.Round(14 - my/mass))
	out := image.NewGray(image.Rect(0, 0, mnist.Cols, mnist.Rows))
	xdraw.Draw(out, image.Rect(ox, oy, ox+sw, oy+sh), small, image.Point{}, xdraw.Src)
	ink := 0
	for _, p := range out.Pix {
		if p > 127 {
			ink++
		}
	}
	switch frac := float64(ink) / float64(len(out.Pix)); {
	case frac < MinInk:
		return nil, noDigit("only specks stand out (ink covers %.1f%% of the fitted frame; MNIST digits cover 1.9%%–39.8%%)", 100*frac)
	case frac > MaxInk:
		return nil, noDigit("ink covers %.0f%% of the fitted frame, where MNIST digits cover 1.9%%–39.8%%", 100*frac)
	}
	return out.Pix, nil
}

// DigitImage is the inverse view for pictures and tests: 784 bytes as a
// 28×28 grayscale image, white on black.
func DigitImage(pix []byte) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, mnist.Cols, mnist.Rows))
	copy(img.Pix, pix)
	return img
}
