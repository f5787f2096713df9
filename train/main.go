// Command train trains one of the study's networks on MNIST:
//
//	go run ./train -arch step3
//	go run ./train -arch step2 -device cuda
//
// Each arch brings its recipe (epochs, batch size, lr, schedule, rotation);
// flags override it. `-h` lists the flags. Exit status: 0 success, 1 failure
// while running, 2 bad usage or bad input. The flags and the run live in
// package train/cli, which the sweep command shares.
package main

import (
	"os"

	"github.com/tinydigits/tinydigits/train/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
