//go:build !shimlib

// shim_graph.cc: CUDA graph capture and replay (tt_graph_* in shim.h).
//
// at::cuda::CUDAGraph needs CUDA's own headers and libtorch_cuda at link
// time, which a CPU libtorch has neither of, so this file compiles the real
// thing only where TINYDIGITS_CUDA_GRAPHS is defined
// (third_party/install-libtorch.sh and scripts/build-shim.sh define it, with
// CUDA's include folder and -ltorch_cuda -lc10_cuda, when the libtorch has
// CUDA and CUDA's headers are found). Elsewhere every entry point reports
// that the build has no CUDA graphs, and training runs eagerly.

#include "shim_util.h"

#include <string>

#if defined(TINYDIGITS_CUDA_GRAPHS)

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <optional>
#include <stdexcept>

#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 1)
#error "CUDA graphs need libtorch 2.1 or newer (capture mode); build without TINYDIGITS_CUDA_GRAPHS"
#endif

// Only functions defined in libtorch_cuda and libc10_cuda are called here
// (no inline CUDA-runtime code such as c10::cuda::CUDAStreamGuard's), so the
// binary links without naming the CUDA runtime, whose file name differs
// between libtorch's builds.
namespace {
struct Graph {
  at::cuda::CUDAGraph graph;
  // While capturing: the thread's stream before, restored at the end; the
  // side stream the capture runs on is current in between.
  std::optional<c10::cuda::CUDAStream> previous;
  bool ready = false;  // captured and instantiated
  bool failed = false; // a capture was abandoned
};
inline Graph &G(tt_graph g) { return *static_cast<Graph *>(g); }

void restore_stream(Graph &gr) {
  if (gr.previous) c10::cuda::setCurrentCUDAStream(*gr.previous);
  gr.previous.reset();
}
}  // namespace

extern "C" {

char *tt_cuda_graphs_unsupported(void) { return nullptr; }

tt_error tt_graph_new(tt_graph *out) { TT_GUARD(*out = new Graph()); }

tt_error tt_graph_capture_begin(tt_graph g, int device_index) {
  TT_TRY
  Graph &gr = G(g);
  if (gr.ready || gr.failed || gr.previous) throw std::logic_error("this graph was captured already");
  c10::DeviceIndex dev = device_index < 0 ? c10::cuda::current_device()
                                          : static_cast<c10::DeviceIndex>(device_index);
  // The warm-up steps and the copy of the first batch ran on the default
  // stream; the capture stream must not start before they are done.
  torch::cuda::synchronize(dev);
  c10::cuda::set_device(dev);
  gr.previous = c10::cuda::getCurrentCUDAStream(dev);
  c10::cuda::setCurrentCUDAStream(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, dev));
  try {
    // Thread-local: other threads (the data pipeline, a progress reader)
    // may call CUDA while this one captures.
    gr.graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
  } catch (...) {
    restore_stream(gr);
    gr.failed = true;
    throw;
  }
  TT_CATCH
}

tt_error tt_graph_capture_end(tt_graph g) {
  TT_TRY
  Graph &gr = G(g);
  if (!gr.previous) throw std::logic_error("this graph is not capturing");
  try {
    gr.graph.capture_end();  // checks that the capture stream is current
  } catch (...) {
    restore_stream(gr);
    gr.failed = true;
    throw;
  }
  restore_stream(gr);
  gr.ready = true;
  TT_CATCH
}

tt_error tt_graph_replay(tt_graph g) {
  TT_TRY
  Graph &gr = G(g);
  if (!gr.ready) throw std::logic_error("this graph has not been captured");
  gr.graph.replay();
  TT_CATCH
}

void tt_graph_free(tt_graph g) {
  if (g == nullptr) return;
  Graph *gr = static_cast<Graph *>(g);
  if (gr->previous) {
    try { gr->graph.capture_end(); } catch (...) {}
    try { restore_stream(*gr); } catch (...) {}
  }
  delete gr;
}

}  // extern "C"

#else  // no CUDA graphs in this build

extern "C" {

char *tt_cuda_graphs_unsupported(void) {
  return tt_err(
      "this binary was compiled without CUDA's headers, so it cannot capture CUDA graphs "
      "(third_party/install-libtorch.sh sets them up where it finds them; README, \"On a GPU\")");
}

tt_error tt_graph_new(tt_graph *out) {
  *out = nullptr;
  return tt_cuda_graphs_unsupported();
}
tt_error tt_graph_capture_begin(tt_graph, int) { return tt_cuda_graphs_unsupported(); }
tt_error tt_graph_capture_end(tt_graph) { return tt_cuda_graphs_unsupported(); }
tt_error tt_graph_replay(tt_graph) { return tt_cuda_graphs_unsupported(); }
void tt_graph_free(tt_graph) {}

}  // extern "C"

#endif
