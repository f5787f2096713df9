package atomicfile_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tinydigits/tinydigits/internal/atomicfile"
)

// When the test binary runs with this variable set (to "PATH|ROUND"), it
// becomes a writer that rewrites PATH with Write until killed.
const writerEnv = "TINYDIGITS_ATOMIC_WRITER"

func TestMain(m *testing.M) {
	if path, round, ok := strings.Cut(os.Getenv(writerEnv), "|"); ok {
		// Two contents made once, so the loop's time is spent writing; each
		// round of the test has its own.
		r, _ := strconv.Atoi(round)
		versions := [][]byte{content(byte(2*r + 1)), content(byte(2*r + 2))}
		for i := 0; ; i++ {
			if err := atomicfile.Write(path, versions[i%2]); err != nil {
				os.Exit(3)
			}
		}
	}
	os.Exit(m.Run())
}

// content is 32 MB of one byte value, large enough that a kill lands inside
// a write most of the time.
func content(b byte) []byte { return bytes.Repeat([]byte{b}, size) }

const size = 32 << 20

// Killing a writer at any moment leaves a whole file: the one before or the
// one after, never a mix or a truncated one.
func TestWriteSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.pt")
	if err := atomicfile.Write(path, content(0)); err != nil {
		t.Fatal(err)
	}
	first := func() byte {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		f.Read(b)
		return b[0]
	}
	for round := range 5 {
		before := first()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), writerEnv+"="+path+"|"+strconv.Itoa(round))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Once the writer has replaced the file, kill it somewhere in a
		// later write.
		deadline := time.Now().Add(20 * time.Second)
		for first() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(round*23) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() == 3 {
			t.Fatalf("round %d: the writer ended by itself: %v", round, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != size || !bytes.Equal(data, content(data[0])) {
			t.Fatalf("round %d: the file is torn: %d bytes", round, len(data))
		}
		if data[0] == before {
			t.Fatalf("round %d: the writer never replaced the file", round)
		}
	}
	// Temporary files of killed writes may remain; they never replace the file.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != "checkpoint.pt" && e.Name()[0] != '.' {
			t.Errorf("unexpected file %s", e.Name())
		}
	}
}
