"""Independent reader: rebuild a three-factors run's model from its HDF5 artifact with h5py and
numpy alone (no libtorch involved) and recompute its validation accuracy from the raw
Fashion-MNIST files. The same arrays load into PyTorch with `torch.from_numpy` and
`load_state_dict` (the names are PyTorch's: `l1.weight`, `bn1.running_mean`, ...); numpy is used
here because a CPU-only torch install cannot `import torch` without the CUDA libraries.

    python tests/python/load_params.py ARTIFACT.h5 [FASHION_MNIST_DIR]

Prints the recomputed and recorded accuracies and exits 1 if they differ by more than one
sample's worth (a single argmax tie may flip between two libraries' kernels).
"""
import gzip
import os
import sys

import h5py
import numpy as np

MEAN, STD = 0.2860, 0.3530  # the normalisation src/data/split.rs applies


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(data_dir, name):
    for candidate in (name + ".gz", name):
        p = os.path.join(data_dir, candidate)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{name} not found in {data_dir}")


def main():
    artifact = sys.argv[1]
    data_dir = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    f = h5py.File(artifact, "r")
    params = {k: f["params"][k][()].astype(np.float64) for k in f["params"]}
    hidden = sum(1 for k in params if k.startswith("bn") and k.endswith(".weight"))
    images = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    val = f["split/val_indices"][()]
    x = (images[val].reshape(len(val), -1).astype(np.float32) / 255.0 - MEAN) / STD
    y = labels[val].astype(np.int64)
    h = x.astype(np.float64)
    for i in range(1, hidden + 1):
        h = h @ params[f"l{i}.weight"].T + params[f"l{i}.bias"]
        # BatchNorm in eval mode: the running statistics, eps as in PyTorch.
        h = (h - params[f"bn{i}.running_mean"]) / np.sqrt(params[f"bn{i}.running_var"] + 1e-5)
        h = h * params[f"bn{i}.weight"] + params[f"bn{i}.bias"]
        h = np.maximum(h, 0.0)
    o = hidden + 1
    logits = h @ params[f"l{o}.weight"].T + params[f"l{o}.bias"]
    acc = float((logits.argmax(-1) == y).mean())
    recorded = float(f["final/val_acc"][()])
    print(f"val_acc recomputed {acc:.6f} recorded {recorded:.6f} (n={len(val)})")
    sys.exit(0 if abs(acc - recorded) <= 1.0 / len(val) + 1e-12 else 1)


if __name__ == "__main__":
    main()
