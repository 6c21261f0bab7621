"""The authors' framework for `make bench`: kuangliu's PreActResNet18 trained with PyTorch on CPU.

The paper's code trained kuangliu/pytorch-cifar's `PreActResNet18` (NCHW, the PyTorch default)
with SGD (lr 0.1, momentum 0.9, weight decay 5e-4) and cross-entropy. This module rebuilds it with
a base-width argument (64: the CIFAR-10 network; 16: the ImageNet-subset network) and times
training steps on synthetic batches, as `bench_compute` does for the Keras model.

It runs as a worker process so PyTorch never shares a process (or an OpenMP pool) with TensorFlow:
`python -m pipelines.bench_torch --threads N --interop-threads M` reads one JSON request per line
on stdin ({"width": 64, "batch": 128, "steps": 8, "warmup": 2, "num_classes": 10}) and answers one
JSON line {"images_per_second": ..., "step_seconds": [...]} on stdout; an empty line ends it.
"""

import argparse
import json
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F


class PreActBlock(nn.Module):
    """kuangliu's PreActBlock: BN-ReLU, conv3x3(stride), BN-ReLU, conv3x3, plus shortcut."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """kuangliu/pytorch-cifar PreActResNet18 with a base width (64 in the original).

    Example:
        net = PreActResNet18(num_classes=10, width=16)
        logits = net(torch.zeros(2, 3, 32, 32))  # (2, 10)
    """

    def __init__(self, num_classes=10, width=64):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.layers = nn.Sequential(*[self._make_layer(width * 2 ** i, stride)
                                      for i, stride in enumerate((1, 2, 2, 2))])
        self.linear = nn.Linear(8 * width, num_classes)

    def _make_layer(self, planes, stride):
        blocks = []
        for s in (stride, 1):
            blocks.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = self.layers(self.conv1(x))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)  # = avg_pool2d(out, 4) at 32x32
        return self.linear(out)


def train_throughput(width: int, batch: int, steps: int, warmup: int, num_classes: int = 10,
                     max_seconds: float = 1e9) -> dict:
    """Times `steps` SGD steps (after `warmup` untimed ones) on a synthetic 32x32 batch.

    Args:
        width: base width of the network.
        batch: batch size.
        steps: timed steps.
        warmup: untimed steps first (allocator and oneDNN primitive caches warm up).
        num_classes: logits.
        max_seconds: stop after the first timed step that ends past this many timed seconds.

    Returns:
        {'images_per_second': batch * steps / timed seconds, 'step_seconds': [...]}.
    """
    torch.manual_seed(0)
    net = PreActResNet18(num_classes, width)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, 32, 32)
    labels = torch.randint(0, num_classes, (batch,))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(images), labels)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
            if sum(times) > max_seconds:
                break
    return {"images_per_second": batch * len(times) / sum(times),
            "step_seconds": [round(t, 4) for t in times]}


def main(argv=None) -> int:
    """Worker loop: one JSON request per stdin line, one JSON answer per stdout line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    parser.add_argument("--interop-threads", type=int, required=True,
                        help="torch.set_num_interop_threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.interop_threads)
    print(json.dumps({"ready": True, "torch": torch.__version__,
                      "threads": torch.get_num_threads(),
                      "interop_threads": torch.get_num_interop_threads(),
                      "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        request = json.loads(line)
        print(json.dumps(train_throughput(**request)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
