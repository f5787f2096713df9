package transforms

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/tinydigits/tinydigits/data/mnist"
)

func imageOf(w, h int, pix []float32) *Image {
	im := NewImage(w, h)
	copy(im.Pix, pix)
	return im
}

// asym is a 5×4 pattern with no symmetry.
func asym() *Image {
	im := NewImage(4, 4)
	for i := range im.Pix {
		im.Pix[i] = float32(i + 1)
	}
	return im
}

var loadMNIST = sync.OnceValues(func() (*mnist.Dataset, error) { return mnist.Load("") })

// digit returns MNIST training image i, scaled to [0, 1].
func digit(t *testing.T, i int) *Image {
	t.Helper()
	ds, err := loadMNIST()
	if err != nil {
		t.Fatal(err)
	}
	im := NewImage(28, 28)
	ToTensor(im, ds.Train.Image(i))
	return im
}

func TestRotateZeroIsIdentity(t *testing.T) {
	for _, mode := range []Interpolation{Nearest, Bilinear} {
		for _, angle := range []float64{0, 360, -360} {
			im := asym()
			want := slices.Clone(im.Pix)
			Rotate(im, angle, -1, mode)
			if !slices.Equal(im.Pix, want) {
				t.Errorf("%v %v°: %v", mode, angle, im.Pix)
			}
		}
	}
}

func TestRotateQuarterTurnsAreExact(t *testing.T) {
	// The source:        +90° (counter-clockwise):
	//  1  2  3  4         4  8 12 16
	//  5  6  7  8         3  7 11 15
	//  9 10 11 12         2  6 10 14
	// 13 14 15 16         1  5  9 13
	ccw := []float32{4, 8, 12, 16, 3, 7, 11, 15, 2, 6, 10, 14, 1, 5, 9, 13}
	cw := []float32{13, 9, 5, 1, 14, 10, 6, 2, 15, 11, 7, 3, 16, 12, 8, 4}
	half := []float32{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, tc := range []struct {
		angle float64
		want  []float32
	}{{90, ccw}, {-270, ccw}, {-90, cw}, {270, cw}, {180, half}, {-180, half}, {450, ccw}} {
		for _, mode := range []Interpolation{Nearest, Bilinear} {
			im := asym()
			Rotate(im, tc.angle, -1, mode)
			if !slices.Equal(im.Pix, tc.want) {
				t.Errorf("%v° %v = %v, want %v", tc.angle, mode, im.Pix, tc.want)
			}
		}
	}
	// The general path agrees with the exact quarter turn (PIL never takes it
	// there; this checks the matrix and the pixel-centre convention).
	im := asym()
	rotateNearest(im, rotationMatrix(90, 4, 4), -1)
	im.swap()
	if !slices.Equal(im.Pix, ccw) {
		t.Errorf("general nearest path at 90° = %v, want %v", im.Pix, ccw)
	}
	im = asym()
	rotateBilinear(im, rotationMatrix(-90, 4, 4), -1)
	im.swap()
	if !near(im.Pix, cw, 1e-5) {
		t.Errorf("general bilinear path at −90° = %v, want %v", im.Pix, cw)
	}
}

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}

// A positive angle turns the picture counter-clockwise: a dot to the right of
// the centre moves up.
func TestRotatePositiveIsCounterClockwise(t *testing.T) {
	for _, mode := range []Interpolation{Nearest, Bilinear} {
		im := NewImage(28, 28)
		im.Pix[14*28+24] = 1 // row 14, column 24: right of the centre (14, 14)
		Rotate(im, 30, 0, mode)
		var sx, sy, sum float64
		for i, v := range im.Pix {
			sx += float64(i%28) * float64(v)
			sy += float64(i/28) * float64(v)
			sum += float64(v)
		}
		// The dot's centre (24.5, 14.5) is (10.5, 0.5) from the rotation
		// centre; counter-clockwise by 30° on screen (y down) it lands at
		// x = 14 + 10.5·cos30 + 0.5·sin30, y = 14 − 10.5·sin30 + 0.5·cos30.
		wx := 14 + 10.5*math.Cos(math.Pi/6) + 0.5*math.Sin(math.Pi/6) - 0.5
		wy := 14 - 10.5*math.Sin(math.Pi/6) + 0.5*math.Cos(math.Pi/6) - 0.5
		cx, cy := sx/sum, sy/sum
		if math.Hypot(cx-wx, cy-wy) > 1 {
			t.Errorf("%v: dot at (%.2f, %.2f), want near (%.2f, %.2f)", mode, cx, cy, wx, wy)
		}
	}
}

func TestRotateFillsOutside(t *testing.T) {
	for _, mode := range []Interpolation{Nearest, Bilinear} {
		im := NewImage(28, 28)
		for i := range im.Pix {
			im.Pix[i] = 0.5
		}
		Rotate(im, 45, 0.9, mode)
		// Corners come from outside the source at 45°; the centre does not.
		for _, i := range []int{0, 27, 27 * 28, 28*28 - 1} {
			if im.Pix[i] != 0.9 {
				t.Errorf("%v: corner pixel %d = %v, want the fill 0.9", mode, i, im.Pix[i])
			}
		}
		if v := im.Pix[14*28+14]; v != 0.5 {
			t.Errorf("%v: centre = %v", mode, v)
		}
	}
}

func centreOfMass(im *Image) (float64, float64) {
	var sx, sy, sum float64
	for i, v := range im.Pix {
		sx += float64(i%im.W) * float64(v)
		sy += float64(i/im.W) * float64(v)
		sum += float64(v)
	}
	return sx / sum, sy / sum
}

// Rotating a digit by +θ then −θ (bilinear) keeps its centre of mass within a
// pixel.
func TestRotateThereAndBack(t *testing.T) {
	for i := range 5 {
		im := digit(t, i)
		x0, y0 := centreOfMass(im)
		for _, theta := range []float64{7, 15, 30} {
			r := imageOf(28, 28, im.Pix)
			Rotate(r, theta, 0, Bilinear)
			Rotate(r, -theta, 0, Bilinear)
			x1, y1 := centreOfMass(r)
			if d := math.Hypot(x1-x0, y1-y0); d > 1 {
				t.Errorf("digit %d, ±%v°: centre of mass moved %.2f pixels", i, theta, d)
			}
		}
	}
}

// testdata/rotations.json holds MNIST digits rotated by torchvision's rotate
// on PIL images (testdata/make_rotations.py). Nearest matches pixel for
// pixel; bilinear within PIL's rounding to 8 bits.
func TestRotateMatchesTorchvision(t *testing.T) {
	matchesTorchvision(t, "testdata/rotations.json", func(im *Image, c torchvisionCase, mode Interpolation) {
		Rotate(im, c.Angle, 0, mode)
	})
}

func TestRandomRotationAngles(t *testing.T) {
	// A dot right of the centre; the angle it moves through is the angle drawn.
	rr := RandomRotation{Degrees: 7, Interpolation: Bilinear}
	rng := rand.New(rand.NewPCG(1, 2))
	var lo, hi float64
	start := math.Atan2(-(13.5 - 14), 27.5-14) // the dot's own angle
	for range 500 {
		im := NewImage(28, 28)
		im.Pix[13*28+27] = 1
		rr.Apply(im, rng)
		cx, cy := centreOfMass(im)
		angle := (math.Atan2(-(cy+0.5-14), cx+0.5-14) - start) * 180 / math.Pi
		lo, hi = min(lo, angle), max(hi, angle)
	}
	if lo < -7.5 || hi > 7.5 || lo > -6 || hi < 6 {
		t.Errorf("angles drawn span [%.2f, %.2f], want about [-7, 7]", lo, hi)
	}
}
