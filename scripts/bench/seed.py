"""The seed's PyTorch pipeline, for scripts/bench.sh: torchvision's MNIST
dataset from the same files, RandomRotation((-7, 7)), ToTensor, Normalize, a
DataLoader with the seed's CPU arguments (batch 64, shuffle, no worker
processes), and its training loop (NLL loss, SGD, running accuracy); then
evaluation in batches of 1000 under no_grad. Prints one JSON line.

    python3 seed.py ROOT MODEL_PY THREADS WARMUP BATCHES [DEVICE]

DEVICE defaults to cpu. On cuda the loader takes the CUDA arguments of
PyTorch's MNIST example (one worker process, pinned memory), the model and
each batch move to the GPU, and the clocks read after a synchronize.

ROOT holds MNIST/raw/ with the four files uncompressed; MODEL_PY is the
output of `go run ./train -arch step3 -pytorch`.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from torchvision import datasets, transforms


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    root, model_py = sys.argv[1], sys.argv[2]
    threads, warmup, batches = (int(a) for a in sys.argv[3:6])
    device = torch.device(sys.argv[6] if len(sys.argv) > 6 else "cpu")
    loader_args = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    scope = {}
    exec(open(model_py).read(), scope)
    model = scope["model"].to(device)

    train_tf = transforms.Compose([
        transforms.RandomRotation((-7.0, 7.0)),
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,)),
    ])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(root, train=True, download=False, transform=train_tf)
    test = datasets.MNIST(root, train=False, download=False, transform=test_tf)
    train_loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, **loader_args)
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000, shuffle=False, **loader_args)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    model.train()
    done, images, correct, start = 0, 0, 0, time.perf_counter()
    while done < warmup + batches:
        for data, target in train_loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            data, target = data.to(device, non_blocking=True), target.to(device, non_blocking=True)
            optimizer.zero_grad()
            y_pred = model(data)
            loss = F.nll_loss(y_pred, target)
            loss.backward()
            optimizer.step()
            pred = y_pred.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            if done >= warmup:
                images += len(data)
            done += 1
            if done >= warmup + batches:
                break
    sync(device)
    train_s = time.perf_counter() - start

    model.eval()
    with torch.no_grad():
        it = iter(test_loader)
        model(next(it)[0].to(device))  # warm-up batch
        sync(device)
        start, seen, right = time.perf_counter(), 0, 0
        for data, target in test_loader:
            data, target = data.to(device, non_blocking=True), target.to(device, non_blocking=True)
            output = model(data)
            F.nll_loss(output, target, reduction="sum").item()
            right += output.argmax(dim=1).eq(target).sum().item()
            seen += len(data)
        eval_s = time.perf_counter() - start

    print(json.dumps({"impl": "python", "device": str(device), "threads": torch.get_num_threads(),
                      "train_img_per_s": images / train_s, "eval_img_per_s": seen / eval_s,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
