package transforms

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Interpolation is how a rotation samples the source image.
type Interpolation int

// Interpolations, as torchvision's InterpolationMode names them.
const (
	Nearest Interpolation = iota
	Bilinear
)

func (m Interpolation) String() string {
	if m == Bilinear {
		return "bilinear"
	}
	return "nearest"
}

// ParseInterpolation reads "nearest" or "bilinear".
func ParseInterpolation(s string) (Interpolation, error) {
	switch s {
	case "nearest":
		return Nearest, nil
	case "bilinear":
		return Bilinear, nil
	}
	return 0, fmt.Errorf("interpolation %q: use nearest or bilinear", s)
}

// RandomRotation rotates each image by an angle drawn uniformly from
// [−Degrees, +Degrees], as torchvision's RandomRotation(degrees) does on a PIL
// image. Fill is the value of pixels that come from outside the source (in
// the image's own units: 0 is black on a ToTensor-scaled MNIST digit).
type RandomRotation struct {
	Degrees       float64
	Fill          float32
	Interpolation Interpolation
}

// Apply rotates im by a random angle drawn from rng.
func (r RandomRotation) Apply(im *Image, rng *rand.Rand) {
	angle := (2*rng.Float64() - 1) * r.Degrees
	Rotate(im, angle, r.Fill, r.Interpolation)
}

func (r RandomRotation) String() string {
	return fmt.Sprintf("RandomRotation(degrees=[%g, %g], interpolation=%v, fill=%g)", -r.Degrees, r.Degrees, r.Interpolation, r.Fill)
}

// Rotate turns im by angle degrees about its centre, with PIL's conventions
// (Image.rotate with expand=False, which torchvision's rotate calls for PIL
// images):
//
//   - A positive angle turns the picture counter-clockwise as displayed
//     (x to the right, y down).
//   - Coordinates are continuous, with pixel (i, j) covering [i, i+1) ×
//     [j, j+1); the centre of rotation is (W/2, H/2), the corner shared by the
//     four middle pixels of a 28×28 image.
//   - Each output pixel samples the source at the inverse-rotated position
//     of its centre. Nearest takes the pixel that position falls in, in
//     PIL's 16.16 fixed-point arithmetic so the choice at exact boundaries
//     matches; Bilinear interpolates the four nearest pixel centres, clamping
//     at the border (PIL rounds that result to 8 bits, this keeps float32).
//   - Output pixels whose sample position lies outside the source get fill.
//   - Multiples of 90° are exact array rotations (PIL transposes for them).
func Rotate(im *Image, angle float64, fill float32, mode Interpolation) {
	a := math.Mod(angle, 360)
	if a < 0 {
		a += 360
	}
	switch {
	case a == 0:
		return
	case a == 180:
		rotate180(im)
		return
	case (a == 90 || a == 270) && im.W == im.H:
		rotate90(im, a == 90)
		return
	}
	m := rotationMatrix(angle, im.W, im.H)
	if mode == Bilinear {
		rotateBilinear(im, m, fill)
	} else {
		rotateNearest(im, m, fill)
	}
	im.swap()
}

// rotationMatrix is the affine map from output to source coordinates that
// PIL's Image.rotate builds: source = M·(x, y, 1), entries rounded to 15
// decimals as PIL rounds them.
func rotationMatrix(angle float64, w, h int) [6]float64 {
	cx, cy := float64(w)/2, float64(h)/2
	rad := -angle * math.Pi / 180
	round15 := func(v float64) float64 { return math.Round(v*1e15) / 1e15 }
	c, s := round15(math.Cos(rad)), round15(math.Sin(rad))
	m := [6]float64{c, s, 0, -s, c, 0}
	m[2] = m[0]*-cx + m[1]*-cy + cx
	m[5] = m[3]*-cx + m[4]*-cy + cy
	return m
}

// rotateNearest writes the nearest-neighbour rotation of im.Pix into the
// scratch buffer, stepping through the source in 16.16 fixed point from each
// row's first pixel centre, as PIL's affine transform does.
func rotateNearest(im *Image, m [6]float64, fill float32) {
	fix := func(v float64) int32 { return int32(math.Floor(v*65536 + 0.5)) }
	a0, a1, a3, a4 := fix(m[0]), fix(m[1]), fix(m[3]), fix(m[4])
	rowX := fix(m[2] + m[0]*0.5 + m[1]*0.5)
	rowY := fix(m[5] + m[3]*0.5 + m[4]*0.5)
	src, dst := im.Pix, im.scratch()
	w, h := int32(im.W), int32(im.H)
	for y := range h {
		xx, yy := rowX, rowY
		out := dst[int(y)*im.W : int(y+1)*im.W]
		for x := range out {
			xin, yin := xx>>16, yy>>16
			if xin >= 0 && xin < w && yin >= 0 && yin < h {
				out[x] = src[yin*w+xin]
			} else {
				out[x] = fill
			}
			xx += a0
			yy += a3
		}
		rowX += a1
		rowY += a4
	}
}

// rotateBilinear writes the bilinear rotation of im.Pix into the scratch
// buffer, with PIL's sampling: a position outside [0, W) × [0, H) gets fill;
// inside, the four nearest pixel centres, clamped to the border, are mixed.
func rotateBilinear(im *Image, m [6]float64, fill float32) {
	src, dst := im.Pix, im.scratch()
	w, h := im.W, im.H
	fw, fh := float64(w), float64(h)
	for y := range h {
		yc := float64(y) + 0.5
		for x := range w {
			xc := float64(x) + 0.5
			sx := m[0]*xc + m[1]*yc + m[2]
			sy := m[3]*xc + m[4]*yc + m[5]
			if sx < 0 || sx >= fw || sy < 0 || sy >= fh {
				dst[y*w+x] = fill
				continue
			}
			sx -= 0.5
			sy -= 0.5
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			dx, dy := sx-float64(x0), sy-float64(y0)
			xa, xb := clamp(x0, w), clamp(x0+1, w)
			row := src[clamp(y0, h)*w:]
			v1 := float64(row[xa]) + (float64(row[xb])-float64(row[xa]))*dx
			v2 := v1
			if y0+1 >= 0 && y0+1 < h {
				row = src[(y0+1)*w:]
				v2 = float64(row[xa]) + (float64(row[xb])-float64(row[xa]))*dx
			}
			dst[y*w+x] = float32(v1 + (v2-v1)*dy)
		}
	}
}

func clamp(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

// rotate180 turns im half a turn in place.
func rotate180(im *Image) {
	p := im.Pix
	for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
		p[i], p[j] = p[j], p[i]
	}
}

// rotate90 turns a square im a quarter turn, counter-clockwise when ccw.
func rotate90(im *Image, ccw bool) {
	n := im.W
	src, dst := im.Pix, im.scratch()
	for y := range n {
		for x := range n {
			if ccw {
				dst[y*n+x] = src[x*n+(n-1-y)]
			} else {
				dst[y*n+x] = src[(n-1-x)*n+y]
			}
		}
	}
	im.swap()
}
