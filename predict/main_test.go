package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/train/engine"
	"github.com/tinydigits/tinydigits/transforms"
)

// trainModel trains step3 briefly (two epochs on 12,000 images)
// and returns its model.pt.
func trainModel(t *testing.T) string {
	t.Helper()
	cfg, err := engine.DefaultConfig("step3")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Epochs, cfg.Subset, cfg.Threads, cfg.Quiet = 2, 12000, 2, true
	cfg.Out = filepath.Join(t.TempDir(), "run")
	res, err := engine.Run(context.Background(), cfg, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("model for the test: %.2f%% test accuracy", res.Epochs[len(res.Epochs)-1].TestAcc)
	return filepath.Join(cfg.Out, runfolder.ModelFile)
}

// direct classifies MNIST bytes with the model, without predict's fitting.
func direct(t *testing.T, model string, pix []byte) (int, float64) {
	net, _, err := runfolder.LoadModel(model, "")
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	im := transforms.NewImage(28, 28)
	transforms.ToTensor(im, pix)
	transforms.MNISTNormalize.Apply(im, nil)
	probs, err := classify(net, torch.CPU, im.Pix, 1)
	if err != nil {
		t.Fatal(err)
	}
	best := 0
	for c, p := range probs {
		if p > probs[best] {
			best = c
		}
	}
	return best, probs[best]
}

func writePNG(t *testing.T, path string, img image.Image) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// paper draws an MNIST digit as dark ink on a light 4× larger page, off
// centre, the way a photo or a scan of a digit looks.
func paper(pix []byte) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, 140, 120))
	for i := range img.Pix {
		img.Pix[i] = 235
	}
	for y := range 28 * 3 {
		for x := range 28 * 3 {
			v := pix[(y/3)*28+x/3]
			img.SetGray(10+x, 20+y, color.Gray{Y: 235 - uint8(int(v)*200/255)})
		}
	}
	return img
}

// Test images written as PNG (as MNIST draws them) and as dark-on-light
// JPEG pages get the label the model gives the original 28×28 image; bad
// files get their own error lines and exit status 2, after the good ones.
func TestPredict(t *testing.T) {
	model := trainModel(t)
	ds, err := mnist.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	var want []int
	for i := 0; len(want) < 20 && i < 200; i++ { // 10 images, 2 files each
		label, p := direct(t, model, ds.Test.Image(i))
		if p < 0.95 {
			continue // a clear case for the model, so refitting cannot tip it
		}
		name := filepath.Join(dir, "digit"+strconv.Itoa(i))
		writePNG(t, name+".png", transforms.DigitImage(ds.Test.Image(i)))
		f, _ := os.Create(name + ".jpg")
		jpeg.Encode(f, paper(ds.Test.Image(i)), &jpeg.Options{Quality: 90})
		f.Close()
		files = append(files, name+".png", name+".jpg")
		want = append(want, label, label)
	}
	if len(want) < 20 {
		t.Fatalf("only %d confident test images", len(want)/2)
	}
	os.WriteFile(filepath.Join(dir, "empty.png"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.png"), []byte("not an image"), 0o644)
	blank := image.NewGray(image.Rect(0, 0, 40, 40))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	writePNG(t, filepath.Join(dir, "blank.png"), blank)
	bad := []string{filepath.Join(dir, "empty.png"), filepath.Join(dir, "notes.png"), filepath.Join(dir, "blank.png"), filepath.Join(dir, "missing.png")}

	var stdout, stderr bytes.Buffer
	code := run(append([]string{"-model", model}, append(files, bad...)...), &stdout, &stderr)
	if code != 2 {
		t.Errorf("exit %d with bad files, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d result lines for %d good files:\n%s", len(lines), len(files), stdout.String())
	}
	agree := 0
	for i, l := range lines {
		if strings.HasPrefix(l, files[i]+": "+strconv.Itoa(want[i])+" (") {
			agree++
		} else {
			t.Logf("%s (model on the original: %d)", l, want[i])
		}
	}
	if agree < len(files)-1 {
		t.Errorf("%d of %d pictures got the original's label", agree, len(files))
	}
	for _, wantErr := range []string{"empty.png: empty file", "notes.png: not a PNG, JPEG or GIF image", "blank.png: png image: no digit found", "missing.png: open"} {
		if !strings.Contains(stderr.String(), wantErr) {
			t.Errorf("stderr lacks %q:\n%s", wantErr, stderr.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-json", "-model", model, files[0], bad[1]}, &stdout, &stderr); code != 2 {
		t.Errorf("-json: exit %d", code)
	}
	var got []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("-json output %q: %v", stdout.String(), err)
	}
	if got[0]["label"] != float64(want[0]) || len(got[0]["probabilities"].([]any)) != 10 || got[1]["error"] == nil || got[1]["label"] != nil {
		t.Errorf("-json: %v", got)
	}

	if code := run([]string{"-model", filepath.Join(dir, "nope.pt"), files[0]}, &stdout, &stderr); code != 2 {
		t.Errorf("missing model: exit %d", code)
	}
}
