"""Float64 NumPy reference implementations, written independently of tf1_wn.

Convolutions are explicit loops over kernel offsets (each offset a strided
slice of the padded input times one kernel tap); the transposed convolution
scatters every input pixel through the kernel.  Nothing here calls
TensorFlow.
"""
import numpy as np


def same_padding(size, kernel, stride, dilation=1):
    """TensorFlow's SAME padding (before, after) for one spatial dimension."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, sizes, kernel, strides, dilation):
    if padding == "VALID":
        return [(0, 0)] * len(sizes)
    if padding == "SAME":
        return [same_padding(n, k, s, d)
                for n, k, s, d in zip(sizes, kernel, strides, dilation)]
    return [tuple(p) for p in padding]


def weight_norm(v, g, reduce_axes, eps=0.0):
    """g * v / sqrt(sum(v**2) + eps), g laid out over the kept axes."""
    v = np.asarray(v, np.float64)
    sum_sq = np.sum(v ** 2, axis=tuple(reduce_axes), keepdims=True)
    return v / np.sqrt(sum_sq + eps) * np.reshape(g, sum_sq.shape)


def dense(x, w):
    return np.tensordot(x, w, axes=[[x.ndim - 1], [0]])


def conv(x, w, strides, padding, dilation=None):
    """Channels-last N-D cross-correlation; w is [*k, in, out]."""
    n = x.ndim - 2
    dilation = dilation or (1,) * n
    kernel = w.shape[:n]
    pads = resolve_padding(padding, x.shape[1:-1], kernel, strides, dilation)
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    out_sizes = [(xp.shape[1 + i] - (kernel[i] - 1) * dilation[i] - 1)
                 // strides[i] + 1 for i in range(n)]
    y = np.zeros([x.shape[0]] + out_sizes + [w.shape[-1]])
    for offset in np.ndindex(*kernel):
        index = [slice(None)]
        for i in range(n):
            start = offset[i] * dilation[i]
            index.append(slice(start, start + (out_sizes[i] - 1) * strides[i]
                               + 1, strides[i]))
        index.append(slice(None))
        y += np.tensordot(xp[tuple(index)], w[offset], axes=[[n + 1], [0]])
    return y


def conv2d_transpose(x, w, strides, padding, output_padding=None):
    """Channels-last transposed conv; w is [kh, kw, out, in].

    Output size H*s for SAME, H*s + max(k-s, 0) for VALID (Keras's
    deconv_output_length), (H-1)*s+k-before-after for explicit pairs (the
    adjoint of the matching forward conv).  With Keras's output_padding p:
    (H-1)*s + k - 2*(k//2) + p (SAME), (H-1)*s + k + p (VALID),
    (H-1)*s + k - before - after + p (explicit).
    """
    batch, height, width, _ = x.shape
    kh, kw, out_channels, _ = w.shape
    full = np.zeros([batch, (height - 1) * strides[0] + kh + strides[0],
                     (width - 1) * strides[1] + kw + strides[1],
                     out_channels])
    for i in range(height):
        for j in range(width):
            patch = np.einsum("bc,hwoc->bhwo", x[:, i, j, :], w)
            r, c = i * strides[0], j * strides[1]
            full[:, r:r + kh, c:c + kw, :] += patch
    sizes, befores = [], []
    for size, k, s, index in ((height, kh, strides[0], 0),
                              (width, kw, strides[1], 1)):
        extra = None if output_padding is None else output_padding[index]
        if padding == "SAME":
            out = size * s if extra is None else \
                (size - 1) * s + k - 2 * (k // 2) + extra
            before = same_padding(out, k, s)[0]
        elif padding == "VALID":
            out = size * s + max(k - s, 0) if extra is None else \
                (size - 1) * s + k + extra
            before = 0
        else:
            before, after = padding[index]
            out = (size - 1) * s + k - before - after + (extra or 0)
        sizes.append(out)
        befores.append(before)
    return full[:, befores[0]:befores[0] + sizes[0],
                befores[1]:befores[1] + sizes[1], :]


def depthwise_conv2d(x, w, strides, padding, dilation=(1, 1)):
    """Channels-last depthwise conv; w is [kh, kw, in, mult]."""
    kh, kw, channels, mult = w.shape
    outputs = []
    for c in range(channels):
        outputs.append(conv(x[..., c:c + 1], w[:, :, c:c + 1, :], strides,
                            padding, dilation))
    return np.concatenate(outputs, axis=-1)  # channel c*mult + m


def moments(t, channel_axis=-1):
    axes = tuple(a for a in range(t.ndim) if a != channel_axis % t.ndim)
    return t.mean(axis=axes), t.var(axis=axes)


def weight_norm_gradients(v, g, reduce_axes, grad_w):
    """Closed-form dL/dv, dL/dg from dL/dw (Salimans & Kingma, eq. 3)."""
    norm = np.sqrt(np.sum(v ** 2, axis=tuple(reduce_axes), keepdims=True))
    g_b = np.reshape(g, norm.shape)
    grad_g = np.sum(grad_w * v, axis=tuple(reduce_axes), keepdims=True) / norm
    grad_v = g_b / norm * (grad_w - grad_g / norm * v)
    return grad_v, grad_g.reshape(np.shape(g))


def numeric_gradient(f, x, step=1e-6):
    """Central finite differences of scalar f at x (float64)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + step
        plus = f(x)
        x[index] = saved - step
        minus = f(x)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * step)
    return grad


# --------------------------------------------------------------------------
# Weight standardization: the four published variants, written from their
# original code.

def ws_paper(w, axes):
    """Qiao et al.'s PyTorch code: w.std() (unbiased), std + 1e-5."""
    mean = w.mean(axis=axes, keepdims=True)
    std = w.std(axis=axes, ddof=1, keepdims=True)
    return (w - mean) / (std + 1e-5)


def ws_paper_tf(w, axes):
    """The paper's TF snippet: tf.nn.moments (biased), sqrt(var) + 1e-5."""
    mean = w.mean(axis=axes, keepdims=True)
    var = ((w - mean) ** 2).mean(axis=axes, keepdims=True)
    return (w - mean) / (np.sqrt(var) + 1e-5)


def ws_bit(w, axes):
    """BiT: biased variance, (w - m) / sqrt(v + 1e-10)."""
    mean = w.mean(axis=axes, keepdims=True)
    var = w.var(axis=axes, keepdims=True)
    return (w - mean) / np.sqrt(var + 1e-10)


def ws_timm(w, axes):
    """timm StdConv2d: batch_norm over the flattened kernel, eps 1e-6."""
    mean = w.mean(axis=axes, keepdims=True)
    var = w.var(axis=axes, keepdims=True)
    return (w - mean) / np.sqrt(var + 1e-6)


def ws_explicit(eps, placement, unbiased):
    def standardize(w, axes):
        n = np.prod([w.shape[a] for a in axes])
        mean = w.mean(axis=axes, keepdims=True)
        var = ((w - mean) ** 2).sum(axis=axes, keepdims=True) / (
            n - 1 if unbiased else n)
        if placement == "std":
            return (w - mean) / (np.sqrt(var) + eps)
        return (w - mean) / np.sqrt(var + eps)
    return standardize


WS_REFERENCES = {"paper": ws_paper, "paper_tf": ws_paper_tf, "bit": ws_bit,
                 "timm": ws_timm}


# --------------------------------------------------------------------------
# Recurrent cells: one step of TF1's RNN, GRU and LSTM equations with
# weight-normalized kernels, and dynamic_rnn over a batch-major sequence.

CELL_EPS = 1e-12  # the cells' eps: negligible for random v


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def cell_weight_norm(v, g):
    """g * v / ||v||, each column on its own."""
    return g * v / np.sqrt(np.sum(v ** 2, axis=0, keepdims=True) + CELL_EPS)


def cell_projection(p, prefix, x, h):
    pre = prefix + "/" if prefix else ""
    return (x @ cell_weight_norm(p[pre + "input/v"], p[pre + "input/g"])
            + h @ cell_weight_norm(p[pre + "recurrent/v"],
                                   p[pre + "recurrent/g"])
            + p[pre + "bias"])


def rnn_step(kind, p, x, state, forget_bias=1.0):
    """One step; state is h (RNN, GRU) or (c, h) (LSTM)."""
    if kind == "rnn":
        h = np.tanh(cell_projection(p, "", x, state))
        return h, h
    if kind == "gru":
        r, u = np.split(sigmoid(cell_projection(
            p, "gates", x, state)), 2, axis=1)
        c = np.tanh(cell_projection(p, "candidate", x, r * state))
        h = u * state + (1 - u) * c
        return h, h
    c, h = state
    i, j, f, o = np.split(cell_projection(p, "", x, h), 4, axis=1)
    c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
    h = np.tanh(c) * sigmoid(o)
    return h, (c, h)


def run_rnn(kind, p, x, n, lengths=None, forget_bias=1.0):
    """Batch-major [B, T, d] inputs; dynamic_rnn semantics for lengths."""
    batch, steps, _ = x.shape
    h0 = np.zeros((batch, n))
    state = (h0, h0.copy()) if kind == "lstm" else h0
    lengths = np.full(batch, steps) if lengths is None else lengths
    outputs = np.zeros((batch, steps, n))
    for t in range(steps):
        out, new = rnn_step(kind, p, x[:, t], state, forget_bias)
        live = (t < lengths)[:, None]
        outputs[:, t] = np.where(live, out, 0.0)
        if kind == "lstm":
            state = tuple(np.where(live, a, b) for a, b in zip(new, state))
        else:
            state = np.where(live, new, state)
    return outputs, state


# --------------------------------------------------------------------------
# Array sketches of the whole-model golden data (tests/data/lasagne_models):
# sums, the values at stored indices and random projections.

def sketch_errors(row, array):
    """The worst relative error of `array` against one stored sketch.

    Args:
      row: dict with ``name``, ``shape``, ``stats`` ([sum, sumsq, max|v|]),
        ``idx``, ``values`` and ``proj`` (4 projections).
      array: the port's array, in Lasagne's layout.

    Returns:
      The largest of: the sum's error over ``sqrt(n) * |x|_2``, the sum of
      squares' and max |v|'s relative errors, the sampled values' error
      over ``max|x|`` and each projection's error over
      ``|x|_2 * |r_k|_2`` (``inf`` for a shape mismatch).
    """
    import math
    import zlib
    flat = np.asarray(array, np.float64).reshape(-1)
    if tuple(np.shape(array)) != tuple(row["shape"]):
        return float("inf")
    total, sumsq, maxabs = row["stats"]
    if maxabs == 0:  # an all-zero reference: the absolute size
        return float(np.abs(flat).max()) if flat.size else 0.0
    norm = math.sqrt(sumsq)
    scale = max(norm, 1e-300)
    # NumPy's float64 sums, not math.fsum: their rounding error is below
    # n * 1.1e-16 of these scales (3e-11 for the largest arrays), under the
    # tightest tolerance (1e-9), and fsum took most of the tests' time.
    errors = [abs(flat.sum() - total) / (math.sqrt(flat.size) * scale),
              abs(flat @ flat - sumsq) / max(sumsq, 1e-300),
              abs(np.abs(flat).max() - maxabs) / max(maxabs, 1e-300),
              np.abs(flat[row["idx"]] - row["values"]).max()
              / max(maxabs, 1e-300)]
    seed = zlib.crc32(row["name"].encode("utf-8")) & 0xffffffff
    for k, want in enumerate(row["proj"]):
        r = np.random.RandomState((seed + k) % 2 ** 32).standard_normal(
            flat.size)
        errors.append(abs(flat @ r - want)
                      / (scale * np.linalg.norm(r)))
    return max(errors)
