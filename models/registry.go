package models

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/tinydigits/tinydigits/torch/nn"
)

// The built-in nets are arch files like any other, embedded in the binary:
// models/archs/NAME.json.
//
//go:embed archs/*.json
var builtin embed.FS

var (
	mu       sync.RWMutex
	registry = map[string]Arch{}
)

func init() {
	files, err := fs.Glob(builtin, "archs/*.json")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		data, err := builtin.ReadFile(f)
		if err != nil {
			panic(err)
		}
		a, err := ParseArch(data)
		if err != nil {
			panic(fmt.Sprintf("models: built-in %s: %v", f, err))
		}
		if a.Name != strings.TrimSuffix(path.Base(f), ".json") {
			panic(fmt.Sprintf("models: built-in %s is named %q", f, a.Name))
		}
		if err := Register(a); err != nil {
			panic(err)
		}
	}
}

// Register adds an architecture after checking it (Arch.Check); names must
// be unique. Programs outside this module register their own nets this way.
func Register(a Arch) error {
	if err := a.Check(); err != nil {
		return fmt.Errorf("models: register %s: %w", a.Name, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[a.Name]; dup {
		return fmt.Errorf("models: %s is registered already", a.Name)
	}
	registry[a.Name] = a
	return nil
}

// Names lists the registered architectures in order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup finds an architecture by name; the error lists the known ones.
func Lookup(name string) (Arch, error) {
	mu.RLock()
	a, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return Arch{}, fmt.Errorf("unknown arch %q (known: %s; or the path of an arch file)", name, strings.Join(Names(), ", "))
	}
	// A deep copy of the layers: a caller that changes (or decodes JSON
	// into) the arch it got must not change the registry's.
	a.Layers = slices.Clone(a.Layers)
	for i := range a.Layers {
		l := &a.Layers[i]
		if l.Bias != nil {
			l.Bias = new(*l.Bias)
		}
		if l.Affine != nil {
			l.Affine = new(*l.Affine)
		}
	}
	return a, nil
}

// Resolve finds an arch by registered name or, failing that, reads the arch
// file at that path.
func Resolve(nameOrPath string) (Arch, error) {
	if a, err := Lookup(nameOrPath); err == nil {
		return a, nil
	} else if _, statErr := os.Stat(nameOrPath); statErr != nil && !strings.ContainsAny(nameOrPath, "/.") {
		return Arch{}, err
	}
	return ReadFile(nameOrPath)
}

// ReadFile reads and checks an arch file; errors start with the path.
func ReadFile(p string) (Arch, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Arch{}, fmt.Errorf("%s: no such arch file (known archs: %s)", p, strings.Join(Names(), ", "))
		}
		return Arch{}, err
	}
	a, err := ParseArch(data)
	if err != nil {
		return Arch{}, fmt.Errorf("%s: %w", p, err)
	}
	return a, nil
}

// New builds the named architecture.
func New(name string) (*nn.Sequential, error) {
	a, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return a.Build()
}
