// Command predict classifies pictures of handwritten digits with a trained
// model:
//
//	go run ./predict -model runs/step3/model.pt digit.png photo.jpg
//
// Each PNG or JPEG is made MNIST-like (grayscale, white on black, fitted
// into 20×20 and centred by mass in 28×28, normalised) and classified; one
// line per file gives the digit and its probability, or -json prints a JSON
// array. A file that cannot be read gets its own error line on stderr; the
// exit status is then 2, after every good file is printed.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"os"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/tinydigits/tinydigits/data/mnist"
	"github.com/tinydigits/tinydigits/internal/command"
	"github.com/tinydigits/tinydigits/runfolder"
	"github.com/tinydigits/tinydigits/torch"
	"github.com/tinydigits/tinydigits/transforms"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// prediction is one file's result, as -json prints it.
type prediction struct {
	File          string    `json:"file"`
	Label         int       `json:"label"`
	Probability   float64   `json:"probability"`
	Probabilities []float64 `json:"probabilities"`
	Error         string    `json:"-"`
}

// failure is a file that could not be classified, as -json prints it.
type failure struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("predict", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	model := fs.String("model", "runs/step3/model.pt", "a model.pt (or checkpoint.pt) written by train")
	arch := fs.String("arch", "", "the model's architecture (default: read from the run folder)")
	device := fs.String("device", "cpu", "cpu, cuda, cuda:N or auto")
	asJSON := fs.Bool("json", false, "print a JSON array instead of lines")
	if err := fs.Parse(command.LongDashes(args, fs)); err != nil { // -model as well as --model, as in train
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: go run ./predict [flags] IMAGE...\n\nClassifies PNG, JPEG or GIF pictures of single digits.\n\n%s", fs.FlagUsages())
			return command.ExitOK
		}
		fmt.Fprintf(stderr, "predict: %v (see -h)\n", err)
		return command.ExitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintln(stderr, "predict: no image files given (see -h)")
		return command.ExitUsage
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dev, err := torch.ParseDevice(*device)
	if err != nil {
		fmt.Fprintf(stderr, "predict: %v\n", err)
		return command.ExitUsage
	}
	net, _, err := runfolder.LoadModel(*model, *arch)
	if err != nil {
		fmt.Fprintf(stderr, "predict: %v\n", err)
		return command.ExitUsage
	}
	defer net.Close()
	if err := net.To(dev); err != nil {
		fmt.Fprintf(stderr, "predict: %v\n", err)
		return command.ExitFailure
	}

	results := make([]prediction, len(files))
	batch, good := readAll(files, results)
	if len(good) > 0 {
		probs, err := classify(net, dev, batch, len(good))
		if err != nil {
			fmt.Fprintf(stderr, "predict: %v\n", err)
			return command.ExitFailure
		}
		for k, i := range good {
			row := probs[k*mnist.Classes : (k+1)*mnist.Classes]
			best := 0
			for c, p := range row {
				if p > row[best] {
					best = c
				}
			}
			results[i].Label, results[i].Probability, results[i].Probabilities = best, row[best], row
		}
	}
	return printResults(results, *asJSON, stdout, stderr)
}

// readAll reads each file as an MNIST-like digit, normalised, into one
// batch; good lists the files read, in the batch's order. A file that
// cannot be read gets its error in results.
func readAll(files []string, results []prediction) (batch []float32, good []int) {
	im := transforms.NewImage(mnist.Cols, mnist.Rows)
	for i, f := range files {
		results[i].File = f
		pix, err := readDigit(f)
		if err != nil {
			results[i].Error = err.Error()
			continue
		}
		transforms.ToTensor(im, pix)
		transforms.MNISTNormalize.Apply(im, nil)
		batch = append(batch, im.Pix...)
		good = append(good, i)
	}
	return batch, good
}

// printResults prints one line per file (or a JSON array) and each
// failure on stderr; the exit status is 2 when a file failed.
func printResults(results []prediction, asJSON bool, stdout, stderr io.Writer) int {
	status := command.ExitOK
	if asJSON {
		items := make([]any, len(results))
		for i, r := range results {
			items[i] = r
			if r.Error != "" {
				items[i] = failure{File: r.File, Error: r.Error}
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(items)
	}
	for _, r := range results {
		switch {
		case r.Error != "":
			fmt.Fprintf(stderr, "predict: %s: %s\n", r.File, r.Error)
			status = command.ExitUsage
		case !asJSON:
			fmt.Fprintf(stdout, "%s: %d (%.1f%%)\n", r.File, r.Label, 100*r.Probability)
		}
	}
	return status
}

// readDigit decodes an image file and fits it MNIST's way.
func readDigit(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		return nil, errors.New("empty file")
	}
	img, format, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("not a PNG, JPEG or GIF image (%v)", err)
	}
	pix, err := transforms.FitDigit(img)
	if err != nil {
		return nil, fmt.Errorf("%s image: %w", format, err)
	}
	return pix, nil
}

// classify runs n normalised 28×28 images through net and returns their
// class probabilities, n rows of 10.
func classify(net interface {
	Forward(*torch.Tensor) (*torch.Tensor, error)
}, dev torch.Device, batch []float32, n int) ([]float64, error) {
	var probs []float64
	err := torch.NoGrad(func() error {
		x, err := torch.FromSlice(batch, int64(n), 1, mnist.Rows, mnist.Cols)
		if err != nil {
			return err
		}
		defer x.Close()
		xd, err := x.To(dev)
		if err != nil {
			return err
		}
		defer xd.Close()
		out, err := net.Forward(xd)
		if err != nil {
			return err
		}
		defer out.Close()
		logp, err := out.Float64s()
		if err != nil {
			return err
		}
		for _, v := range logp {
			probs = append(probs, math.Exp(v))
		}
		return nil
	})
	return probs, err
}
