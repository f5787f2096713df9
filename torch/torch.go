// Package torch is tinydigits' binding to libtorch, PyTorch's C++ library.
//
// It is deliberately small: tensors made from and read back to Go slices, the
// few tensor ops a training loop needs outside modules, devices, grad mode,
// seeding, thread control, the raw module and optimizer layer that packages
// nn and optim build on, and PyTorch-compatible serialization.
//
// Three rules shape the API:
//
//   - Every libtorch failure comes back as an error (*Error) from the call
//     that caused it. No C++ exception reaches Go, and nothing panics.
//   - Memory is freed deterministically: a *Tensor owns one libtorch handle
//     and frees it in Close. A finalizer frees handles that were never closed,
//     but only as a safety net; LiveTensors counts the open handles so tests
//     and long runs can check that nothing leaks.
//   - libtorch keeps some state per OS thread (grad mode). Code that drives
//     libtorch from one goroutine should call runtime.LockOSThread; NoGrad does
//     so for the scope it runs.
package torch

/*
#cgo CXXFLAGS: -std=c++17 -I/usr/include/torch/csrc/api/include -Wno-deprecated-declarations
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Error is a failure reported by libtorch: the operation that failed and
// libtorch's own message, without its C++ backtrace.
type Error struct {
	Op  string
	Msg string
}

func (e *Error) Error() string { return "torch: " + e.Op + ": " + e.Msg }

// check turns a shim error (a malloc'd message, NULL for success) into a Go
// error and frees the message.
func check(op string, e C.tt_error) error {
	if e == nil {
		return nil
	}
	return &Error{Op: op, Msg: takeMessage(e)}
}

// takeMessage returns a malloc'd message from the shim as a Go string ("" for
// NULL) and frees it.
func takeMessage(m *C.char) string {
	if m == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(m))
	return C.GoString(m)
}

// Version is the version of the libtorch headers this package was built with.
func Version() string { return C.GoString(C.tt_version()) }

// ManualSeed seeds libtorch's random number generators (parameter
// initialisation, dropout), as torch.manual_seed does.
func ManualSeed(seed uint64) error {
	return check("manual_seed", C.tt_manual_seed(C.uint64_t(seed)))
}

// SetNumThreads sets the number of threads libtorch uses inside one op
// (intra-op parallelism).
func SetNumThreads(n int) error {
	if n < 1 {
		return fmt.Errorf("torch: set_num_threads: thread count must be at least 1, got %d", n)
	}
	return check("set_num_threads", C.tt_set_num_threads(C.int(n)))
}

// NumThreads reports libtorch's intra-op thread count.
func NumThreads() int { return int(C.tt_num_threads()) }

// KeepFreedMemory makes glibc's malloc keep the memory libtorch frees and
// hand it out again, instead of mapping every large tensor afresh and
// unmapping it when freed. libtorch allocates each activation anew on every
// step, and with glibc's defaults the large ones cost page faults and
// zeroing each time: on a 2-core machine this setting raised training
// throughput of the study's networks by about a third and evaluation (1,000
// images a batch) by two to three times (BENCHMARKS.md). The price is that
// resident memory stays at its high-water mark instead of shrinking between
// steps. It reports whether the setting took effect (glibc only).
func KeepFreedMemory() bool {
	// 1 GB: every allocation of these networks comes from the heap, and up
	// to 1 GB of freed memory stays for reuse.
	return C.tt_malloc_keep(1<<30, 1<<30) == 1
}

// GradEnabled reports whether autograd records operations on the calling OS
// thread.
func GradEnabled() bool { return C.tt_grad_enabled() != 0 }

// NoGrad runs f with autograd recording off, as `with torch.no_grad()` does.
// Grad mode is per OS thread in libtorch, so NoGrad locks the goroutine to
// its thread while f runs; work that f hands to other goroutines is not
// covered.
func NoGrad(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.tt_grad_enabled()
	C.tt_set_grad_enabled(0)
	defer C.tt_set_grad_enabled(prev)
	return f()
}

// CPURNGState returns the state of libtorch's default CPU generator (which
// draws dropout masks and initial weights) as a uint8 tensor, to restore
// with SetCPURNGState.
func CPURNGState() (*Tensor, error) { return RNGState(CPU) }

// SetCPURNGState restores a state from CPURNGState.
func SetCPURNGState(state *Tensor) error { return SetRNGState(CPU, state) }

// RNGState returns the state of libtorch's default generator for device d
// (on a GPU it draws that GPU's dropout masks) as a uint8 tensor on the CPU.
func RNGState(d Device) (*Tensor, error) {
	var out C.tt_tensor
	if err := check(d.String()+" rng state", C.tt_rng_state(C.int(d.Type), C.int(d.Index), &out)); err != nil {
		return nil, err
	}
	return newTensor(out), nil
}

// SetRNGState restores a state from RNGState of the same kind of device.
func SetRNGState(d Device, state *Tensor) error {
	h, err := state.handle()
	if err != nil {
		return err
	}
	err = check("set "+d.String()+" rng state", C.tt_set_rng_state(C.int(d.Type), C.int(d.Index), h))
	runtime.KeepAlive(state)
	return err
}
