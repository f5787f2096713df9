// Package transforms turns MNIST bytes into normalised float32 batches:
// torchvision's ToTensor scaling, Normalize, RandomRotation and Compose, and
// a Loader that shuffles, augments and batches an epoch in goroutines while
// the previous batch trains.
//
// Randomness is per sample and derived from (seed, epoch, position in the
// epoch), so the same seed gives the same augmented batches whatever the
// number of workers and however they are scheduled.
package transforms

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// MNIST's mean and standard deviation over the training pixels scaled to
// [0, 1], the values torchvision's MNIST examples normalise with.
const (
	MNISTMean = 0.1307
	MNISTStd  = 0.3081
)

// Image is a grayscale image of W×H float32 pixels, row-major. Transforms
// change it in place; spare is scratch space of the same size for transforms
// that cannot work in place (a rotation writes there and swaps).
type Image struct {
	W, H  int
	Pix   []float32
	spare []float32
}

// NewImage makes a zero W×H image.
func NewImage(w, h int) *Image {
	return &Image{W: w, H: h, Pix: make([]float32, w*h), spare: make([]float32, w*h)}
}

// swap exchanges Pix and the scratch buffer after a transform wrote the
// result into the scratch buffer.
func (im *Image) swap() { im.Pix, im.spare = im.spare, im.Pix }

// scratch returns a buffer the size of Pix.
func (im *Image) scratch() []float32 {
	if len(im.spare) != len(im.Pix) {
		im.spare = make([]float32, len(im.Pix))
	}
	return im.spare
}

// ToTensor scales 8-bit pixels to [0, 1] (pixel/255) into im, as
// torchvision's ToTensor does.
func ToTensor(im *Image, pixels []byte) {
	for i, p := range pixels {
		im.Pix[i] = byteScale[p]
	}
}

// byteScale[p] is float32(p)/255, the value torchvision's division gives.
var byteScale = func() (t [256]float32) {
	for p := range t {
		t[p] = float32(p) / 255
	}
	return t
}()

// Transform changes an image in place. rng is the sample's own random source.
type Transform interface {
	Apply(im *Image, rng *rand.Rand)
	String() string
}

// Normalize maps each pixel p to (p − Mean)/Std. The zero value is not
// valid: use MNIST's constants, or NewNormalize.
type Normalize struct{ Mean, Std float32 }

// MNISTNormalize is Normalize((0.1307,), (0.3081,)).
var MNISTNormalize = Normalize{Mean: MNISTMean, Std: MNISTStd}

// Apply normalises im.
func (n Normalize) Apply(im *Image, _ *rand.Rand) {
	// Subtract then divide, in float32, as torchvision's sub_/div_ do.
	for i, p := range im.Pix {
		im.Pix[i] = (p - n.Mean) / n.Std
	}
}

func (n Normalize) String() string { return fmt.Sprintf("Normalize(mean=%g, std=%g)", n.Mean, n.Std) }

// Compose applies transforms in order.
type Compose []Transform

// Apply runs each transform.
func (c Compose) Apply(im *Image, rng *rand.Rand) {
	for _, t := range c {
		t.Apply(im, rng)
	}
}

func (c Compose) String() string {
	parts := make([]string, len(c))
	for i, t := range c {
		parts[i] = t.String()
	}
	return "Compose(" + strings.Join(parts, ", ") + ")"
}
