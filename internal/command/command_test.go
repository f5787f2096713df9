package command

import (
	"errors"
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

func TestLongDashes(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("arch", "", "")
	fs.Float64("lr", 0, "")
	fs.Int("epochs", 0, "")
	fs.Float64("gamma", 0, "")
	got := LongDashes([]string{"-arch", "step2", "-lr=0.05", "--epochs", "3", "-h", "-gamma", "-0.5", "--", "-arch"}, fs)
	// Long names gain a dash; -h, negative numbers and what follows "--" stay.
	want := []string{"--arch", "step2", "--lr=0.05", "--epochs", "3", "-h", "--gamma", "-0.5", "--", "-arch"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestOneLineAndPlural(t *testing.T) {
	if got := OneLine(errors.New("a\n  b\tc\n")); got != "a b c" {
		t.Errorf("OneLine = %q", got)
	}
	if Plural(1, "thread") != "1 thread" || Plural(2, "thread") != "2 threads" || Plural(0, "run") != "0 runs" {
		t.Error("Plural")
	}
}
