// Package models defines a network as data: an Arch is its layers and its
// training recipe, read from and written to an arch file (JSON) that a
// person can write by hand. Shapes and parameter counts are worked out in
// Go (Arch.Plan) before libtorch builds anything. The registry holds the
// built-in nets, which are embedded arch files (models/archs/), and any a
// program registers; Resolve takes a registered name or an arch file's path.
//
// The built-ins are the three-step MNIST study's nets and tiny.
// All three follow the seed's style: 3×3 convolutions, ReLU, two max-pool
// transition blocks, global average pooling and a log-softmax output, with
// no fully connected layer. They share one layout (docs/study.md's L2): padding 1
// on the first four convolutions, pools after the second and the fourth.
//
//	layer            output    receptive field
//	input            1×28×28    1
//	conv1 3×3 pad 1  C×28×28    3
//	conv2 3×3 pad 1  C×28×28    5
//	maxpool 2        C×14×14    6
//	conv3 3×3 pad 1  C×14×14   10
//	conv4 3×3 pad 1  C×14×14   14
//	maxpool 2        C×7×7     16
//	conv5 3×3        C×5×5     24
//	conv6 3×3        10×3×3    32
//	GAP, log-softmax 10
//
// step1 has C = 32 with biases and nothing else; step2 has C = 14, no biases,
// BatchNorm and Dropout after conv1–conv5. step3 is step2 with a different
// head: conv5 narrows to 10 channels, conv6 widens to 16 (with BatchNorm and
// ReLU), then GAP and a 1×1 convolution to the 10 classes.
package models
