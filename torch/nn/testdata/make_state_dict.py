# Writes python_state.pt for TestLoadPyTorchStateDict with PyTorch's own
# modules: the state dict of smallNet (keys prefixed "model."), after one
# training-mode pass so the BatchNorm buffers are not their defaults, an
# input, and PyTorch's eval-mode output for it.
# Run: python3 make_state_dict.py (PyTorch 1.13.1).
import torch

from small_net import small_net

net = small_net()
net.train()
net(torch.randn(6, 1, 8, 8))
net.eval()
x = torch.randn(3, 1, 8, 8)
with torch.no_grad():
    y = net(x)
out = {"model." + k: v for k, v in net.state_dict().items()}
out["input"] = x
out["output"] = y
torch.save(out, "python_state.pt")
print(y)
