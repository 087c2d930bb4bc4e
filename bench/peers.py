"""PyTorch-eager and PyHessian peers for `three-factors bench --peers`.

Reads the model weights and batches the Rust side wrote (so both time the same model on the same
data), runs the same kernels under the same protocol (warm-up, then timed repetitions, device
synchronised around each), and prints one line per kernel:

    peer <kernel> <iterations> <seconds> <seconds> ...

Needs `import torch` (ci/bootstrap --peers installs torch 2.11.0 with its CUDA dependencies, which
`import torch` loads even on a CPU, and PyHessian).
"""
import argparse
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def build(params, hidden, device):
    layers = []
    for i in range(1, hidden + 1):
        w = params[f"l{i}.weight"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        bn = nn.BatchNorm1d(w.shape[0])
        layers += [lin, bn, nn.ReLU()]
    w = params[f"l{hidden + 1}.weight"]
    layers.append(nn.Linear(w.shape[1], w.shape[0]))
    model = nn.Sequential(*layers)
    state = {}
    for i in range(1, hidden + 1):
        base = 3 * (i - 1)
        state[f"{base}.weight"] = params[f"l{i}.weight"]
        state[f"{base}.bias"] = params[f"l{i}.bias"]
        for k in ("weight", "bias", "running_mean", "running_var"):
            state[f"{base + 1}.{k}"] = params[f"bn{i}.{k}"]
        state[f"{base + 1}.num_batches_tracked"] = torch.tensor(0)
    state[f"{3 * hidden}.weight"] = params[f"l{hidden + 1}.weight"]
    state[f"{3 * hidden}.bias"] = params[f"l{hidden + 1}.bias"]
    model.load_state_dict(state)
    return model.to(device)


def timed(fn, warmup, reps, device):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return out


ONLY = None


def wants(kernel):
    """Whether `--only` selects this kernel (matched on its id without the peer's prefix)."""
    return ONLY is None or ONLY in kernel.split("/", 1)[1]


def emit(kernel, iterations, times):
    print("peer", kernel, iterations, " ".join(f"{t:.9f}" for t in times), flush=True)


def bench(kernel, iterations, fn, warmup, reps, device):
    """Times `fn` as `kernel` and prints it, unless `--only` leaves it out. `iterations` may be
    a callable, evaluated only when the kernel runs."""
    if wants(kernel):
        emit(kernel, iterations() if callable(iterations) else iterations, timed(fn, warmup, reps, device))


def power(model, x, y, tol, max_iters, seed):
    params = [p for p in model.parameters()]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    g = torch.Generator(device="cpu").manual_seed(seed)
    v = [torch.randn(p.shape, generator=g).to(p.device) for p in params]
    n = torch.sqrt(sum((a * a).sum() for a in v))
    v = [a / n for a in v]
    lam, it = None, 0
    for it in range(1, max_iters + 1):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
        new = sum((a * b).sum() for a, b in zip(v, hv)).item()
        n = torch.sqrt(sum((a * a).sum() for a in hv))
        v = [a / n for a in hv]
        if lam is not None and abs(new - lam) <= tol * abs(new):
            lam = new
            break
        lam = new
    return lam, it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--matmul", type=int, default=2048)
    ap.add_argument("--only", help="run only the kernels whose id contains this text")
    a = ap.parse_args()
    global ONLY
    ONLY = a.only
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    f = h5py.File(a.model, "r")
    width = int(f.attrs["width"])
    params = {k: torch.from_numpy(f["params"][k][()]) for k in f["params"]}
    hidden = sum(1 for k in params if k.startswith("bn") and k.endswith(".weight"))
    few = (min(a.warmup, 1), min(a.reps, 5))

    for name in sorted(f["batches"], key=lambda s: int(s[1:])):
        s = int(name[1:])
        x = torch.from_numpy(f["batches"][name]["x"][()]).to(device)
        y = torch.from_numpy(f["batches"][name]["y"][()]).to(device)
        model = build(params, hidden, device).train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-6)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        bench(f"eager/sgd_step/w{width}/s{s}", 1, step, a.warmup, a.reps, device)

    x = torch.from_numpy(f["curvature"]["x"][()]).to(device)
    y = torch.from_numpy(f["curvature"]["y"][()]).to(device)
    n = x.shape[0]
    model = build(params, hidden, device).eval()
    params_l = list(model.parameters())

    def gradient():
        torch.autograd.grad(F.cross_entropy(model(x), y), params_l)

    bench(f"eager/gradient/w{width}/s{n}", 1, gradient, a.warmup, a.reps, device)
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), params_l, create_graph=True)
    v = [torch.randn_like(p) for p in params_l]
    bench(f"eager/hvp/w{width}/s{n}", 1,
          lambda: torch.autograd.grad(grads, params_l, grad_outputs=v, retain_graph=True), a.warmup, a.reps, device)
    bench(f"eager/power_iteration_20/w{width}/s{n}", 20, lambda: power(model, x, y, 0.0, 20, 0), *few, device)
    bench(f"eager/lambda_max_tol1e-3/w{width}/s{n}", lambda: power(model, x, y, 1e-3, 100, 0)[1],
          lambda: power(model, x, y, 1e-3, 100, 0), *few, device)
    try:
        from pyhessian import hessian
    except ImportError:
        hessian = None
    if hessian is not None and wants(f"pyhessian/lambda_max_tol1e-3/w{width}/s{n}"):
        crit = nn.CrossEntropyLoss()

        def pyh():
            torch.manual_seed(0)
            return hessian(model, crit, data=(x, y), cuda=device.type == "cuda").eigenvalues(maxIter=100, tol=1e-3)

        timed(pyh, 1, 0, device)
        emit(f"pyhessian/lambda_max_tol1e-3/w{width}/s{n}", -1, timed(pyh, *few, device))
    xe = torch.from_numpy(f["evaluate"]["x"][()]).to(device)
    ye = torch.from_numpy(f["evaluate"]["y"][()]).to(device)

    def evaluate():
        # What `three-factors` does to evaluate a model: no gradients, chunks of 4096 samples.
        with torch.no_grad():
            loss, correct = 0.0, 0
            for i in range(0, xe.shape[0], 4096):
                out = model(xe[i:i + 4096])
                loss += F.cross_entropy(out, ye[i:i + 4096], reduction="sum").item()
                correct += (out.argmax(1) == ye[i:i + 4096]).sum().item()
            return loss / xe.shape[0], correct / xe.shape[0]

    bench(f"eager/evaluate/w{width}/s{xe.shape[0]}", 1, evaluate, a.warmup, a.reps, device)
    m = a.matmul
    A = torch.randn(m, m, device=device)
    B = torch.randn(m, m, device=device)
    bench(f"eager/matmul/{m}", 1, lambda: A @ B, a.warmup, a.reps, device)


if __name__ == "__main__":
    main()
