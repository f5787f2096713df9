# Writes average.pt for TestAverageMatchesPyTorch and
# TestRecomputeBatchNormMatchesPyTorch with PyTorch's own AveragedModel
# (use_buffers=True) and update_bn: the small net of torch/nn's
# make_state_dict.py (keys "init.*": its starting state dict), forty batches
# ("x<i>", "y<i>"), and after forty SGD steps (lr 0.1, momentum 0.9,
# Nesterov) with an update after each: the EMA's state dict (decay 0.8 with
# TensorFlow's warm-up min(decay, (1 + n)/(10 + n)), "ema.*"), the equal
# average's ("swa.*") and the trained net's ("net.*"); then the equal
# average's state dict after update_bn over three more batches ("bn<i>";
# "swa_bn.*").
# Run: /usr/bin/python3 make_average.py (PyTorch 1.13.1).
import os
import sys

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "nn", "testdata"))
from small_net import small_net  # noqa: E402

net = small_net()
out = {"init." + k: v.clone() for k, v in net.state_dict().items()}
decay = 0.8
def ema_fn(avg, cur, n):
    d = min(decay, (1 + n.item()) / (10 + n.item()))
    return d * avg + (1 - d) * cur
ema = AveragedModel(net, avg_fn=ema_fn, use_buffers=True)
swa = AveragedModel(net, use_buffers=True)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
net.train()
for i in range(40):
    x, y = torch.randn(5, 1, 8, 8), torch.randint(0, 3, (5,))
    out["x%d" % i], out["y%d" % i] = x, y
    opt.zero_grad()
    nn.functional.nll_loss(net(x), y).backward()
    opt.step()
    ema.update_parameters(net)
    swa.update_parameters(net)
out.update({"ema." + k: v for k, v in ema.module.state_dict().items()})
out.update({"swa." + k: v for k, v in swa.module.state_dict().items()})
out.update({"net." + k: v for k, v in net.state_dict().items()})
bns = [torch.randn(5, 1, 8, 8) for _ in range(3)]
for i, x in enumerate(bns):
    out["bn%d" % i] = x
torch.optim.swa_utils.update_bn(bns, swa.module)
out.update({"swa_bn." + k: v for k, v in swa.module.state_dict().items()})
torch.save(out, "average.pt")
print(len(out), "entries; ema 0.weight[0,0,0]:", out["ema.0.weight"][0, 0, 0].tolist())
