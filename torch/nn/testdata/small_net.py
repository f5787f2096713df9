# The small net of the PyTorch fixtures (smallNet in torch/nn's tests,
# torchtest.SmallNet), shared by make_state_dict.py and
# torch/optim/testdata/make_average.py.
import torch
import torch.nn as nn


def small_net():
    """The net, its weights drawn after torch.manual_seed(0)."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.LogSoftmax(dim=1),
    )
