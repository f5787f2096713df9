package transforms

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandomAffine rotates and translates each image in one resampling, as
// torchvision's RandomAffine(degrees, translate=(Translate, Translate)) does
// on a PIL image, with no scaling or shear: an angle drawn uniformly from
// [−Degrees, +Degrees], then horizontal and vertical shifts drawn uniformly
// from ±Translate·W and ±Translate·H and rounded (half to even, as Python's
// round) to whole pixels. Fill is the value of pixels that come from outside
// the source. Each pixel is interpolated once, however the two combine.
type RandomAffine struct {
	Degrees       float64
	Translate     float64
	Fill          float32
	Interpolation Interpolation
}

// Apply moves im by a random rotation and translation drawn from rng.
func (r RandomAffine) Apply(im *Image, rng *rand.Rand) {
	angle := (2*rng.Float64() - 1) * r.Degrees
	maxDX, maxDY := r.Translate*float64(im.W), r.Translate*float64(im.H)
	tx := math.RoundToEven((2*rng.Float64() - 1) * maxDX)
	ty := math.RoundToEven((2*rng.Float64() - 1) * maxDY)
	Affine(im, angle, tx, ty, r.Fill, r.Interpolation)
}

func (r RandomAffine) String() string {
	return fmt.Sprintf("RandomAffine(degrees=[%g, %g], translate=(%g, %g), interpolation=%v, fill=%g)",
		-r.Degrees, r.Degrees, r.Translate, r.Translate, r.Interpolation, r.Fill)
}

// Affine rotates im by angle degrees about its centre and shifts it by
// (tx, ty) pixels (right and down), in one resampling, as torchvision's
// functional affine(img, angle, [tx, ty], scale=1, shear=0) does on a PIL
// image: its inverse matrix, evaluated in the same order of operations, then
// PIL's affine transform with the sampling conventions Rotate describes. A
// positive angle turns the picture clockwise as displayed (torchvision's
// affine convention; its rotate turns the other way).
func Affine(im *Image, angle, tx, ty float64, fill float32, mode Interpolation) {
	if angle == 0 && tx == 0 && ty == 0 {
		return
	}
	m := affineMatrix(angle, tx, ty, im.W, im.H)
	if mode == Bilinear {
		rotateBilinear(im, m, fill)
	} else {
		rotateNearest(im, m, fill)
	}
	im.swap()
}

// affineMatrix is torchvision's _get_inverse_affine_matrix for a rotation
// and a translation about the centre (W/2, H/2): source = M·(x, y, 1).
func affineMatrix(angle, tx, ty float64, w, h int) [6]float64 {
	cx, cy := float64(w)*0.5, float64(h)*0.5
	rot := angle * (math.Pi / 180) // Python's math.radians
	// With no shear torchvision's a, b, c, d are cos, −sin, sin, cos.
	a, b, c, d := math.Cos(rot), -math.Sin(rot), math.Sin(rot), math.Cos(rot)
	m := [6]float64{d, -b, 0, -c, a, 0}
	m[2] += m[0]*(-cx-tx) + m[1]*(-cy-ty)
	m[5] += m[3]*(-cx-tx) + m[4]*(-cy-ty)
	m[2] += cx
	m[5] += cy
	return m
}
