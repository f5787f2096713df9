package runfolder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinydigits/tinydigits/torch"
)

// The real files of a one-epoch tiny run (torch/testdata/README.md).
var (
	realModel      = filepath.Join("..", "torch", "testdata", "tiny_model.pt")
	realCheckpoint = filepath.Join("..", "torch", "testdata", "tiny_checkpoint.pt")
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A run folder needs neither flags nor a registry entry: the checkpoint
// carries the net, and so does arch.json beside model.pt.
func TestLoadModelFromTheFolder(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, realCheckpoint, filepath.Join(dir, CheckpointFile))
	net, a, err := LoadModel(filepath.Join(dir, CheckpointFile), "")
	if err != nil {
		t.Fatal(err)
	}
	net.Close()
	if a.Name != "tiny" || a.Params() != 3897 {
		t.Errorf("arch %s, %d parameters", a.Name, a.Params())
	}
	// model.pt with arch.json beside it, under another name than any
	// registered arch.
	a.Name = "my-net"
	if err := WriteArch(dir, a); err != nil {
		t.Fatal(err)
	}
	copyFile(t, realModel, filepath.Join(dir, ModelFile))
	net, b, err := LoadModel(filepath.Join(dir, ModelFile), "")
	if err != nil {
		t.Fatal(err)
	}
	net.Close()
	if b.Name != "my-net" {
		t.Errorf("arch.json not used: %s", b.Name)
	}
}

// A folder of an earlier version (no arch.json, a format-1 checkpoint)
// still evaluates through the registry; its checkpoint cannot be resumed.
func TestOlderRunFolder(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, realModel, filepath.Join(dir, ModelFile))
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), []byte(`{"arch": "tiny", "recipe": "15 epochs"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	net, a, err := LoadModel(filepath.Join(dir, ModelFile), "")
	if err != nil || a.Name != "tiny" {
		t.Fatalf("older folder: %v", err)
	}
	net.Close()

	items, _, err := torch.LoadDictFile(realCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, it := range items {
			it.Tensor.Close()
		}
	}()
	data, err := torch.SaveDict(items, []torch.Text{{Name: "meta", Value: `{"format": "tinydigits-checkpoint/1", "arch": "tiny", "epoch": 1}`}})
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), CheckpointFile)
	os.WriteFile(old, data, 0o644)
	ck, err := ReadCheckpoint(old)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if !ck.Legacy || ck.Arch.Name != "tiny" || len(ck.Weights()) == 0 {
		t.Errorf("legacy %v, arch %s, %d weights", ck.Legacy, ck.Arch.Name, len(ck.Weights()))
	}
	net, _, err = LoadModel(old, "")
	if err != nil {
		t.Fatal(err)
	}
	net.Close()
	// Another format is refused by name.
	data, _ = torch.SaveDict(items, []torch.Text{{Name: "meta", Value: `{"format": "tinydigits-checkpoint/9"}`}})
	os.WriteFile(old, data, 0o644)
	if _, err := ReadCheckpoint(old); !IsInputError(err) || !strings.Contains(err.Error(), `format "tinydigits-checkpoint/9"`) {
		t.Errorf("format 9: %v", err)
	}
}

// Prepare refuses a folder that holds a run, and -overwrite clears it,
// temporary files of killed writes included.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SummaryFile), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir, ".model.pt.tmp123"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644)
	if err := Prepare(dir, false); !IsInputError(err) || !strings.Contains(err.Error(), "already holds a finished run") {
		t.Errorf("finished run: %v", err)
	}
	if err := Prepare(dir, true); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "notes.txt" {
		t.Errorf("after -overwrite: %v", entries)
	}
}

// An arch file handed to -eval or predict gets a line saying where it goes.
func TestLoadModelOfAnArchFile(t *testing.T) {
	_, _, err := LoadModel(filepath.Join(t.TempDir(), ArchFile), "")
	if !IsInputError(err) || !strings.Contains(err.Error(), "an arch file goes to -arch") {
		t.Errorf("got %v", err)
	}
}
