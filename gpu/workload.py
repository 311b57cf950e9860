"""A GPU process for gpu/verify: it fills device memory with random tensors,
records their checksum, and keeps computing, writing how far it got.

  python3 workload.py GIB DIR

DIR/ready       written once the tensors are in place: "<bytes> <checksum>"
DIR/progress    "<iterations> <unix time>", rewritten as it computes
DIR/verify      create it to ask for the checksum again; the answer goes to DIR/checksum
"""
import os
import sys
import time

import torch

gib, out = float(sys.argv[1]), sys.argv[2]
device = torch.device("cuda")
chunk = 256 * 2**20 // 4  # float32 elements in 256 MiB
count = max(1, int(gib * 4))
generator = torch.Generator(device=device)
generator.manual_seed(20261123)
tensors = [torch.rand(chunk, device=device, generator=generator) for _ in range(count)]


def checksum() -> int:
    # The float bits summed as integers: exact, so any changed byte shows.
    return sum(int(t.view(torch.int32).sum(dtype=torch.int64).item()) for t in tensors)


def write(name: str, text: str) -> None:
    tmp = os.path.join(out, f".{name}")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, os.path.join(out, name))


torch.cuda.synchronize()
write("ready", f"{count * chunk * 4} {checksum()}\n")
a = torch.rand(1024, 1024, device=device, generator=generator)
iterations = 0
last = 0.0
while True:
    a = torch.nn.functional.normalize(a @ a.T, dim=1)  # keeps the GPU busy, values bounded
    torch.cuda.synchronize()
    iterations += 1
    now = time.time()
    if now - last > 0.1:
        write("progress", f"{iterations} {now}\n")
        last = now
    if os.path.exists(os.path.join(out, "verify")):
        os.unlink(os.path.join(out, "verify"))
        write("checksum", f"{checksum()}\n")
    time.sleep(0.01)
