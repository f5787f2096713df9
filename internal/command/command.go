// Package command is what the commands (train, predict, sweep) share:
// their exit statuses, long flags with one dash, one-line errors, terminal
// detection and the handling of Ctrl-C.
package command

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// The exit statuses of every command.
const (
	ExitOK      = 0   // success
	ExitFailure = 1   // a failure while running
	ExitUsage   = 2   // bad usage or bad input: a flag, a file, a device
	ExitStopped = 130 // stopped by a signal (128 + SIGINT)
)

// LongDashes rewrites "-name" and "-name=value" to "--name..." for every
// long flag name, so the documented single-dash style works: pflag alone
// would read "-arch" as the shorthands -a -r -c -h. Negative numbers and
// everything after "--" are left alone.
func LongDashes(args []string, fs *pflag.FlagSet) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && (fs.Lookup(name) != nil || isLetter(name[0])) {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// OneLine keeps an error message on one line, as the commands print it.
func OneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// IsTerminal reports whether w is a terminal (for live progress).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Plural writes a count with its noun: "1 thread", "2 threads".
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// OnInterrupt calls first at the first SIGINT or SIGTERM and second at the
// next one, each once, on a goroutine of its own: the commands stop at a
// batch boundary on the first and quit at once on the second. The returned
// function stops listening.
func OnInterrupt(first, second func()) (stop func()) {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-signals; !ok {
			return
		}
		first()
		if _, ok := <-signals; ok {
			second()
		}
	}()
	return func() {
		signal.Stop(signals)
		close(signals)
	}
}
