#!/usr/bin/env bash
# Prints the folder of CUDA's headers (the first that has cuda_runtime_api.h)
# for building the CUDA graph code, or exits 1 when there is none:
#
#   bash third_party/cuda-headers.sh [SITE]
#
# Looked for, in order: $CUDA_HOME/include, $CUDA_PATH/include,
# /usr/local/cuda/include, /usr/include (Debian's nvidia-cuda-dev), and,
# given SITE (the folder that holds PyTorch's torch/ package), the headers of
# the nvidia-* Python packages there (SITE/nvidia/cuda_runtime/include for
# CUDA 12, SITE/nvidia/cu*/include for CUDA 13). install-libtorch.sh and
# scripts/build-shim.sh share it.
set -euo pipefail
site=${1:-}
for d in "${CUDA_HOME:+$CUDA_HOME/include}" "${CUDA_PATH:+$CUDA_PATH/include}" /usr/local/cuda/include /usr/include \
  ${site:+"$site"/nvidia/cuda_runtime/include "$site"/nvidia/cu*/include}; do
  if [ -n "$d" ] && [ -f "$d/cuda_runtime_api.h" ]; then
    echo "$d"
    exit 0
  fi
done
exit 1
