package torch

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// DeviceType is the kind of a device, with libtorch's numbering.
type DeviceType int

// The device types tinydigits supports.
const (
	CPUDevice  DeviceType = C.TT_CPU
	CUDADevice DeviceType = C.TT_CUDA
)

// Device is where a tensor lives. Index is the GPU number for CUDA, or -1 for
// "the current device".
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host.
var CPU = Device{Type: CPUDevice, Index: -1}

// CUDA returns the CUDA device with the given index (-1 for the current one).
func CUDA(index int) Device { return Device{Type: CUDADevice, Index: index} }

// IsCUDA reports whether d is a GPU.
func (d Device) IsCUDA() bool { return d.Type == CUDADevice }

// String gives libtorch's spelling: "cpu", "cuda", "cuda:1".
func (d Device) String() string {
	name := "cpu"
	if d.Type == CUDADevice {
		name = "cuda"
	}
	if d.Index >= 0 {
		return name + ":" + strconv.Itoa(d.Index)
	}
	return name
}

// CUDAAvailable reports whether this libtorch was built with CUDA and sees at
// least one GPU. libtorch's CUDA library is loaded at start-up from the
// folder libtorch was loaded from, where it is there: no build tag or link
// flag is needed for CUDA.
func CUDAAvailable() bool { return C.tt_cuda_available() != 0 }

// CUDAUnavailableReason says in one line why CUDA is not available (this
// libtorch is a CPU-only build, its CUDA library did not load, there is no
// NVIDIA driver, the driver sees no GPU, the driver is too old for
// libtorch's CUDA runtime), or "" when it is.
func CUDAUnavailableReason() string { return takeMessage(C.tt_cuda_unavailable_reason()) }

// CUDADeviceCount is the number of GPUs libtorch sees (0 without CUDA).
func CUDADeviceCount() int { return int(C.tt_cuda_device_count()) }

// ErrNoCUDA is returned (wrapped) when CUDA is asked for and this libtorch
// cannot provide it.
var ErrNoCUDA = errors.New("CUDA is not available")

// ParseDevice reads a device name: "cpu", "cuda", "cuda:N", or "auto" (CUDA
// when available, else the CPU). It checks that the device exists: asking for
// CUDA where this libtorch has none is an error that wraps ErrNoCUDA.
func ParseDevice(s string) (Device, error) {
	d, auto, err := parseDeviceName(s)
	switch {
	case err != nil:
		return d, err
	case auto:
		if CUDAAvailable() {
			return CUDA(0), nil
		}
		return CPU, nil
	case d.IsCUDA():
		if !CUDAAvailable() {
			return Device{}, fmt.Errorf("device %q: %w: %s", s, ErrNoCUDA, CUDAUnavailableReason())
		}
		if count := CUDADeviceCount(); d.Index >= count {
			return Device{}, fmt.Errorf("device %q: %w: there are %d GPUs (cuda:0 to cuda:%d)", s, ErrNoCUDA, count, count-1)
		}
	}
	return d, nil
}

// CheckDeviceName checks that s names a device as ParseDevice reads it,
// without asking whether this machine has it: for runs that will run
// elsewhere (a Slurm job array written on a login node).
func CheckDeviceName(s string) error {
	_, _, err := parseDeviceName(s)
	return err
}

// parseDeviceName reads a device name; auto is true for "auto". A CUDA
// device's Index is -1 for plain "cuda".
func parseDeviceName(s string) (d Device, auto bool, err error) {
	name := strings.ToLower(strings.TrimSpace(s))
	switch {
	case name == "cpu":
		return CPU, false, nil
	case name == "auto":
		return CPU, true, nil
	case name == "cuda" || strings.HasPrefix(name, "cuda:"):
		d := CUDA(-1)
		if rest, ok := strings.CutPrefix(name, "cuda:"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return Device{}, false, fmt.Errorf("device %q: the GPU index must be a number ≥ 0 (cuda:0, cuda:1, ...)", s)
			}
			d.Index = n
		}
		return d, false, nil
	}
	return Device{}, false, fmt.Errorf("device %q: unknown device; use cpu, cuda, cuda:N or auto", s)
}

// Synchronize waits until the work queued on d is done (a no-op on the CPU):
// for timing GPU work, which otherwise runs behind the host.
func Synchronize(d Device) error {
	return check("synchronize", C.tt_synchronize(C.int(d.Type), C.int(d.Index)))
}

// CUDADeviceName is the GPU's name as the CUDA driver gives it ("NVIDIA
// H100 80GB HBM3"); index -1 is the GPU of this thread's CUDA context.
func CUDADeviceName(index int) (string, error) {
	var name *C.char
	if err := check("cuda device name", C.tt_cuda_device_name(C.int(index), &name)); err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(name))
	return C.GoString(name), nil
}

// CUDAMemory is the GPU's memory in use (by every process, libtorch's cache
// included; -1 where it cannot be read from this thread) and its total, in
// bytes, from the CUDA driver. Reading it waits for the GPU's queued work.
func CUDAMemory(index int) (used, total int64, err error) {
	var u, t C.int64_t
	if err := check("cuda memory", C.tt_cuda_memory(C.int(index), &u, &t)); err != nil {
		return 0, 0, err
	}
	return int64(u), int64(t), nil
}

// Describe names a device for a banner: "cpu", or "cuda:0 (NVIDIA H100 80GB
// HBM3, 79.1 GiB)" where the CUDA driver answers.
func Describe(d Device) string {
	if !d.IsCUDA() {
		return d.String()
	}
	name, err := CUDADeviceName(d.Index)
	if err != nil {
		return d.String()
	}
	idx := d.Index
	if idx < 0 {
		idx = 0
	}
	s := fmt.Sprintf("cuda:%d (%s", idx, name)
	if _, total, err := CUDAMemory(d.Index); err == nil {
		s += fmt.Sprintf(", %.1f GiB", float64(total)/(1<<30))
	}
	return s + ")"
}
