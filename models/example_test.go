package models_test

import (
	"fmt"

	"github.com/tinydigits/tinydigits/models"
)

// A program outside this module defines a net as a value and registers it;
// train's engine then finds it by name like a built-in.
func ExampleRegister() {
	noBias := false
	net := models.Arch{
		Name:        "example-net",
		Description: "two convolutions, a pool, GAP",
		Layers: []models.Layer{
			{Type: "Conv2d", Out: 8, Kernel: 3, Padding: 1, Bias: &noBias},
			{Type: "BatchNorm2d"},
			{Type: "ReLU", Inplace: true},
			{Type: "MaxPool2d", Kernel: 2},
			{Type: "Conv2d", Out: 10, Kernel: 3, Bias: &noBias},
			{Type: "AdaptiveAvgPool2d", Size: 1},
			{Type: "Flatten"},
			{Type: "LogSoftmax", Dim: 1},
		},
		Recipe: models.Recipe{Epochs: 5, BatchSize: 64, LR: 0.05, Momentum: 0.9, PctStart: models.DefaultPctStart},
	}
	if err := models.Register(net); err != nil {
		fmt.Println(err)
		return
	}
	a, _ := models.Lookup("example-net")
	fmt.Println(a.Name, a.Params(), "parameters")
	// Output: example-net 808 parameters
}
