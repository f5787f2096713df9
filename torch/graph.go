package torch

// #include "shim.h"
import "C"

import (
	"errors"
	"runtime"
)

// CUDAGraphsUnsupported says in one line why this build cannot capture CUDA
// graphs, or "" when it can. Graphs need the binary compiled against CUDA's
// headers and linked with libtorch_cuda, which third_party/install-libtorch.sh
// sets up where it finds them; without them training runs eagerly.
func CUDAGraphsUnsupported() string { return takeMessage(C.tt_cuda_graphs_unsupported()) }

// Graph is a CUDA graph: work captured once from this thread and replayed
// with one launch. Tensors used while capturing keep their memory, so a
// replay reads the captured inputs and writes the captured outputs: copy new
// data into the inputs (CopyFrom, Assign, Fill) before each Replay.
type Graph struct {
	h         C.tt_graph
	capturing bool
}

// ErrGraphState is returned for a capture or replay out of order.
var ErrGraphState = errors.New("torch: cuda graph: capture, then replay")

// NewGraph makes an empty graph. It fails where CUDAGraphsUnsupported says
// why.
func NewGraph() (*Graph, error) {
	var h C.tt_graph
	if err := check("cuda graph", C.tt_graph_new(&h)); err != nil {
		return nil, err
	}
	return &Graph{h: h}, nil
}

// Capture records the libtorch work f queues on GPU device d instead of
// running it. The goroutine stays on its OS thread for the capture (libtorch's
// current stream is per thread); f must queue work on d only, must not read
// results back to the host, and must not free tensors it did not make. Run
// f's work eagerly at least once before, on the same OS thread (lock it with
// runtime.LockOSThread): libtorch makes its cuBLAS and cuDNN handles per
// thread on first use, and making one during a capture fails. On error, f's
// or the capture's, the graph cannot be replayed. Nothing runs until Replay.
func (g *Graph) Capture(d Device, f func() error) error {
	if g.h == nil || g.capturing {
		return ErrGraphState
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := check("cuda graph capture", C.tt_graph_capture_begin(g.h, C.int(d.Index))); err != nil {
		return err
	}
	g.capturing = true
	ferr := f()
	// End the capture either way: a capture left open breaks the stream.
	err := check("cuda graph capture", C.tt_graph_capture_end(g.h))
	g.capturing = false
	if ferr != nil {
		return ferr
	}
	return err
}

// Replay queues the captured work on the current stream and returns without
// waiting for it.
func (g *Graph) Replay() error {
	if g.h == nil {
		return ErrGraphState
	}
	return check("cuda graph replay", C.tt_graph_replay(g.h))
}

// Close frees the graph and its memory pool. Tensors made during capture stay
// valid while open.
func (g *Graph) Close() {
	if g == nil || g.h == nil {
		return
	}
	C.tt_graph_free(g.h)
	g.h = nil
}
