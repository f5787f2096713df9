package transforms

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// testdata/affines.json holds MNIST digits rotated and translated by
// torchvision's affine on PIL images (testdata/make_affines.py), pure
// translations among them. Nearest matches pixel for pixel; bilinear within
// PIL's rounding to 8 bits.
func TestAffineMatchesTorchvision(t *testing.T) {
	matchesTorchvision(t, "testdata/affines.json", func(im *Image, c torchvisionCase, mode Interpolation) {
		Affine(im, c.Angle, c.TX, c.TY, 0, mode)
	})
}

// torchvisionCase is one digit transformed by torchvision on a PIL image:
// the MNIST test digit, the transform, and the pixels it gave (0–255).
type torchvisionCase struct {
	Index         int
	Angle, TX, TY float64
	Mode          string
	Pixels        []int
}

// matchesTorchvision applies transform to each case of file and compares
// with torchvision's pixels: nearest pixel for pixel, bilinear within PIL's
// rounding to 8 bits.
func matchesTorchvision(t *testing.T, file string, transform func(*Image, torchvisionCase, Interpolation)) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []torchvisionCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		mode, err := ParseInterpolation(c.Mode)
		if err != nil {
			t.Fatal(err)
		}
		im := digit(t, c.Index)
		transform(im, c, mode)
		worst, off := 0.0, 0
		for i, p := range c.Pixels {
			d := math.Abs(float64(im.Pix[i])*255 - float64(p))
			worst = max(worst, d)
			if d > 1e-3 {
				off++
			}
		}
		if (mode == Nearest && off > 0) || worst > 1+1e-3 {
			t.Errorf("digit %d, %v°, shift (%v, %v), %s: %d pixels differ from torchvision, by up to %.3f/255",
				c.Index, c.Angle, c.TX, c.TY, c.Mode, off, worst)
		}
	}
}

// A shift alone moves every pixel by whole pixels: right and down for
// positive shifts, fill where the source is outside.
func TestAffineTranslates(t *testing.T) {
	src := asym() // 4×4, 1..16
	for _, mode := range []Interpolation{Nearest, Bilinear} {
		im := imageOf(4, 4, src.Pix)
		Affine(im, 0, 1, -1, -1, mode)
		want := []float32{-1, 5, 6, 7, -1, 9, 10, 11, -1, 13, 14, 15, -1, -1, -1, -1}
		if !near(im.Pix, want, 1e-6) {
			t.Errorf("%v: shift (1, −1) = %v, want %v", mode, im.Pix, want)
		}
	}
	im := imageOf(4, 4, src.Pix)
	Affine(im, 0, 0, 0, -1, Nearest)
	if !slices.Equal(im.Pix, src.Pix) {
		t.Errorf("no move changed the image: %v", im.Pix)
	}
}

// torchvision's affine turns the other way from its rotate: an affine by θ
// equals a rotation by −θ (nearest differs where PIL's rotate rounds its
// matrix, so compare bilinear).
func TestAffineAngleIsClockwise(t *testing.T) {
	for i := range 3 {
		a, r := digit(t, i), digit(t, i)
		Affine(a, 20, 0, 0, 0, Bilinear)
		Rotate(r, -20, 0, Bilinear)
		if !near(a.Pix, r.Pix, 1e-5) {
			t.Errorf("digit %d: affine 20° differs from rotate −20°", i)
		}
	}
}

// The shifts drawn are whole pixels within ±Translate·size, spread over the
// whole range (both ends included), and independent of the angle.
func TestRandomAffineDraws(t *testing.T) {
	ra := RandomAffine{Degrees: 0, Translate: 0.1}
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[[2]int]int{}
	for range 3000 {
		im := NewImage(28, 28)
		im.Pix[14*28+14] = 1
		ra.Apply(im, rng)
		at := slices.Index(im.Pix, 1)
		if at < 0 || slices.Max(im.Pix) != 1 || sum(im.Pix) != 1 {
			t.Fatalf("the dot did not move by whole pixels: %v", im.Pix)
		}
		seen[[2]int{at%28 - 14, at/28 - 14}]++
	}
	// max shift 0.1·28 = 2.8 pixels: rounded shifts span −3..3 in each axis.
	for dx := -3; dx <= 3; dx++ {
		for dy := -3; dy <= 3; dy++ {
			if seen[[2]int{dx, dy}] == 0 {
				t.Errorf("shift (%d, %d) never drawn", dx, dy)
			}
		}
	}
	if len(seen) != 49 {
		t.Errorf("%d distinct shifts, want 49: %v", len(seen), seen)
	}
	// ±3 is reached only from [2.5, 2.8]: 0.3/5.6 of the draws per axis end.
	if n := seen[[2]int{3, 0}] + seen[[2]int{-3, 0}]; n == 0 {
		t.Error("no draw reached ±3 pixels")
	}
	if s := (RandomAffine{Degrees: 7, Translate: 0.1}).String(); s != "RandomAffine(degrees=[-7, 7], translate=(0.1, 0.1), interpolation=nearest, fill=0)" {
		t.Errorf("String() = %s", s)
	}
}

func sum(p []float32) float32 {
	var s float32
	for _, v := range p {
		s += v
	}
	return s
}
