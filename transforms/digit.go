package transforms

import (
	"errors"
	"image"
	"math"

	xdraw "golang.org/x/image/draw"
)

// ErrNoDigit is returned by FitDigit for an image with nothing drawn on it.
var ErrNoDigit = errors.New("no digit found: the image is blank")

// FitDigit turns a picture of one handwritten digit into a 28×28 MNIST-style
// image, the way the MNIST images were made:
//
//  1. grayscale, with the digit white on black: a picture whose border is
//     mostly light (dark ink on paper) is inverted;
//  2. the digit's bounding box is scaled, keeping its aspect ratio and with
//     anti-aliasing, to fit a 20×20 box;
//  3. it is placed in the 28×28 frame with its centre of mass at the centre.
//
// The result is 784 bytes, row-major, 0 for background.
func FitDigit(img image.Image) ([]byte, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 {
		return nil, ErrNoDigit
	}
	gray := image.NewGray(image.Rect(0, 0, w, h))
	xdraw.Draw(gray, gray.Bounds(), img, b.Min, xdraw.Src)
	// Dark ink on a light background: the border says which is which.
	var border, n float64
	for x := range w {
		border += float64(gray.Pix[x]) + float64(gray.Pix[(h-1)*gray.Stride+x])
		n += 2
	}
	for y := range h {
		border += float64(gray.Pix[y*gray.Stride]) + float64(gray.Pix[y*gray.Stride+w-1])
		n += 2
	}
	if border/n > 127 {
		for i, p := range gray.Pix {
			gray.Pix[i] = 255 - p
		}
	}
	// The bounding box of the ink: pixels brighter than a fifth of the
	// brightest, so faint noise and JPEG ringing do not widen it.
	var brightest uint8
	for _, p := range gray.Pix {
		brightest = max(brightest, p)
	}
	if brightest < 32 {
		return nil, ErrNoDigit
	}
	threshold := brightest / 5
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
		return nil, ErrNoDigit
	}
	ox := int(math.Round(14 - mx/mass))
	oy := int(math.Round(14 - my/mass))
	out := image.NewGray(image.Rect(0, 0, 28, 28))
	xdraw.Draw(out, image.Rect(ox, oy, ox+sw, oy+sh), small, image.Point{}, xdraw.Src)
	return out.Pix, nil
}

// DigitImage is the inverse view for pictures and tests: 784 bytes as a
// 28×28 grayscale image, white on black.
func DigitImage(pix []byte) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(img.Pix, pix)
	return img
}
