package nn

import (
	"fmt"
	"os"
	"slices"

	"github.com/tinydigits/tinydigits/internal/atomicfile"

	"github.com/tinydigits/tinydigits/torch"
)

// EncodeStateDict serializes m's state dict in PyTorch's torch.save format:
// Python's torch.load returns a dict of name to tensor that
// model.load_state_dict accepts.
func EncodeStateDict(m Module) ([]byte, error) { return torch.SaveTensors(m.StateDict()) }

// DecodeStateDict loads a state dict from data into m. It checks every entry
// before changing anything: a missing, unexpected or misshapen entry is an
// error naming it, and m is left as it was.
func DecodeStateDict(m Module, data []byte) error {
	file, err := torch.LoadTensors(data)
	if err != nil {
		return err
	}
	defer closeAll(file)
	return LoadStateDict(m, file)
}

// LoadStateDict copies entries into m's parameters and buffers, matching
// names; like DecodeStateDict it checks every entry first.
func LoadStateDict(m Module, entries []torch.Named) error {
	byName := make(map[string]*torch.Tensor, len(entries))
	for _, n := range entries {
		byName[n.Name] = n.Tensor
	}
	want := m.StateDict()
	known := make(map[string]bool, len(want))
	for _, w := range want {
		known[w.Name] = true
		t, ok := byName[w.Name]
		if !ok {
			return fmt.Errorf("state dict: missing entry %q", w.Name)
		}
		if got, exp := t.Shape(), w.Tensor.Shape(); !slices.Equal(got, exp) {
			return fmt.Errorf("state dict: entry %q has shape %v, the model expects %v", w.Name, got, exp)
		}
	}
	for _, n := range entries {
		if !known[n.Name] {
			return fmt.Errorf("state dict: unexpected entry %q (not in this model)", n.Name)
		}
	}
	for _, w := range want {
		if err := w.Tensor.Assign(byName[w.Name]); err != nil {
			return fmt.Errorf("state dict: entry %q: %w", w.Name, err)
		}
	}
	return nil
}

func closeAll(items []torch.Named) {
	for _, n := range items {
		n.Tensor.Close()
	}
}

// Save writes m's state dict to path in PyTorch's format. The file is written
// next to its destination and renamed into place, so a crash leaves either
// the old file or the new one, never half of one.
func Save(m Module, path string) error {
	data, err := EncodeStateDict(m)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return atomicfile.Write(path, data)
}

// Load reads a state dict that Save (or Python's torch.save(model.state_dict()))
// wrote into m.
func Load(m Module, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := DecodeStateDict(m, data); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}
