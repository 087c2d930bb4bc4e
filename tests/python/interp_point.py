"""Independent check of one point of an interpolation line: rebuild θ(α) = (1 − α)·θ_A + α·θ_B
from the two artifacts with h5py and numpy alone (float64, no libtorch), recompute the BatchNorm
statistics on the training subset layer by layer (mean and unbiased variance of each BatchNorm's
input over the whole subset, the layers below already recomputed), and compare the training
loss and accuracy with what the line file recorded at that α.

    python tests/python/interp_point.py A.h5 B.h5 LINE.h5 INDEX [FASHION_MNIST_DIR]

Exits 1 if the loss differs by more than 1e-4 relative or the accuracy by more than one sample.
"""
import sys

import h5py
import numpy as np

from load_params import MEAN, STD, find, read_idx

# The normalisation src/data/locate.rs gives MNIST (Fashion-MNIST's comes from load_params).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def main():
    a, b, line, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data_dir = sys.argv[5] if len(sys.argv) > 5 else "/usr/share/datasets/fashion-mnist"
    fa, fb, fl = h5py.File(a, "r"), h5py.File(b, "r"), h5py.File(line, "r")
    alpha = float(fl["alpha"][k])
    pa = {n: fa["params"][n][()].astype(np.float64) for n in fa["params"]}
    pb = {n: fb["params"][n][()].astype(np.float64) for n in fb["params"]}
    theta = {n: (1 - alpha) * pa[n] + alpha * pb[n] for n in pa if "running_" not in n}
    hidden = sum(1 for n in theta if n.startswith("bn") and n.endswith(".weight"))
    mnist = 'dataset = "mnist"' in fa.attrs["config_toml"]
    mean, std = (MNIST_MEAN, MNIST_STD) if mnist else (MEAN, STD)
    images = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    idx = fa["split/train_indices"][()]
    x = (images[idx].reshape(len(idx), -1).astype(np.float32) / 255.0 - mean) / std
    y = labels[idx].astype(np.int64)
    if "noisy_positions" in fa["split"]:
        y[fa["split/noisy_positions"][()]] = fa["split/noisy_labels"][()]
    h = x.astype(np.float64)
    for i in range(1, hidden + 1):
        h = h @ theta[f"l{i}.weight"].T + theta[f"l{i}.bias"]
        mean, var = h.mean(0), h.var(0, ddof=1)
        h = (h - mean) / np.sqrt(var + 1e-5) * theta[f"bn{i}.weight"] + theta[f"bn{i}.bias"]
        h = np.maximum(h, 0.0)
    o = hidden + 1
    logits = h @ theta[f"l{o}.weight"].T + theta[f"l{o}.bias"]
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    acc = float((logits.argmax(-1) == y).mean())
    got_loss, got_acc = float(fl["train_loss"][k]), float(fl["train_acc"][k])
    print(f"alpha {alpha}: train_loss recomputed {loss:.8f} recorded {got_loss:.8f}; "
          f"train_acc recomputed {acc:.6f} recorded {got_acc:.6f}")
    ok = abs(loss - got_loss) <= 1e-4 * abs(loss) and abs(acc - got_acc) <= 1.0 / len(y) + 1e-12
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
