"""Errata in the lecture and the semantic decisions spec takes, as data for the report.

``ERRATA``: places where the lecture is inconsistent, wrong or silent, with the evidence and what
spec does about it.  ``DECISIONS``: every semantic choice spec makes (each is explained in the
docstring of the module named in ``where``).  ``spec/ERRATA.md`` mirrors ``ERRATA``
(regenerate with ``python -m spec.errata > spec/ERRATA.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Erratum", "Decision", "ERRATA", "DECISIONS", "render_markdown"]


@dataclass(frozen=True)
class Erratum:
    id: str
    where: str
    lecture_says: str
    evidence: str
    decision: str


@dataclass(frozen=True)
class Decision:
    topic: str
    decision: str
    where: str


ERRATA: list[Erratum] = [
    Erratum(
        "E01-x4-sign",
        'slide "Example of 1D Convolution" (first frame)',
        "x = [1 2 -3 0 4 -1 2]",
        "Every later frame shows x = [1 2 -3 0 -4 -1 2], and the printed results [-4 -2 -1 -1 6] need "
        "x_4 = -4: with x_4 = +4 'valid' gives [-4 -2 7 -1 -2] (7 = 4 - (-3), -2 = 2 - 4).",
        "Worked examples use x_4 = -4.",
    ),
    Erratum(
        "E02-kernel-size",
        'slide "What is a discrete convolution?"',
        "k : kernel of size n_k; (x * k)_i = sum_{j=-n_k}^{n_k} x_{i+j} k_j",
        "The sum runs over 2 n_k + 1 taps, not n_k; and the channel slides call n_k the 'window size' "
        "(an n_k x n_k kernel).  The centred form also only describes odd kernels.",
        "spec indexes taps t = 0..k-1 with k the number of taps (kernel shape (C_out, C_in, *k)); "
        "centring is done by the padding (see E13 for even k).",
    ),
    Erratum(
        "E03-2d-rows",
        'slide "Images: 2D convolution" (last frame)',
        "9 x 6 input * 3 x 3 kernel = the printed 6 x 4 result",
        "'valid' on a 9-row input gives 9 - 3 + 1 = 7 rows: [0 0 -4 -4], [-1 -1 -3 -3], [-3 -3 -1 -1], "
        "[-4 -4 0 0] x 3, [-3 -3 0 0].  The printed 6 rows have only two [-4 -4 0 0] rows: they are the "
        "'valid' result of an 8-row input with three rows [1 1 1 1 0 0], FOUR (not five) rows "
        "[1 1 0 0 0 0] and the zero row, i.e. one row of [1 1 0 0 0 0] is missing from the printed result "
        "(or was added to the transcribed input).",
        "Worked example edge-2d-valid stores the computed 7 x 4 result as expected and the slide's 6 x 4 "
        "as printed; edge-2d-printed-implied-input checks the 8-row input against the printed matrix.",
    ),
    Erratum(
        "E04-sigma-variance",
        'slide "Batch Normalization"',
        "sigma_B = batch variance; x -> (x - mu_B) / sigma_B",
        "Dividing by the variance does not normalise (the result has variance 1/sigma_B^2 not 1); "
        "sigma_B must be the standard deviation.  There is no eps, so a constant channel divides by 0.",
        "xhat = (x - mu) / sqrt(var + eps) with the biased batch variance and eps = 1e-5 by default.",
    ),
    Erratum(
        "E05-dropout-scale",
        'slide "What is Dropout?"',
        "x -> Z sigma(W x + b) with z_i ~ Ber(p); at evaluation all channels are used",
        "Without rescaling E[Z a] = p a in training while evaluation gives a: the next layer sees inputs "
        "a factor p smaller in training than in evaluation.  torch/Keras/ONNX divide by the keep "
        "probability in training ('inverted dropout'); the original paper scales weights by p at test time.",
        "dropout(scaling='none') is the lecture's formula; scaling='inverted' divides by keep_prob; "
        "training=False is the identity in both.",
    ),
    Erratum(
        "E06-cross-correlation",
        'slide "What is a discrete convolution?"',
        "discrete convolution (x * k)_i = sum_j x_{i+j} k_j",
        "A convolution is sum_j x_{i-j} k_j (kernel flipped); the formula is a cross-correlation.  With "
        "k = [-1 0 1] the difference matters: true convolution would give the negated results.",
        "spec follows the formula (cross-correlation), as torch, TF, JAX and ONNX do; 'conv' keeps the "
        "lecture's name.",
    ),
    Erratum(
        "E07-same-means-zeros",
        'slide "What to do at the boundary"',
        "pad with zeros ('same'); wrap around the end ('periodic')",
        "'same' in frameworks names the output SIZE (equal to the input's), not the pad value; the "
        "lecture's periodic padding also keeps the size.",
        "padding='same' = zero padding to the input size, padding='periodic' = wrap-around to the input "
        "size, padding='valid' = no padding.",
    ),
    Erratum(
        "E08-channel-shapes",
        'slides "Convolution with multiple channels in / out"',
        "(n_x x n_y x n_in) * n_k x n_k x n_in kernel = (n_x x n_y x 1)",
        "The output keeps n_x x n_y only with size-preserving padding; 'valid' gives "
        "(n_x - n_k + 1) x (n_y - n_k + 1).  The slides also use channels-last layout.",
        "spec uses (N, C, *spatial) and kernels (C_out, C_in, *k); worked example channels-320x240x3 "
        "checks the slide with padding='same'.",
    ),
    Erratum(
        "E09-pool-unspecified",
        'slides "Example: Downsampling via Max Pooling", "Example: Upsampling"',
        "pictures only",
        "Window size, stride, what happens to a remainder, ties, NaN and the upsampling rule are not stated.",
        "size=2, stride=size, remainder dropped, gradient to the first maximum in row-major order, NaN "
        "propagates; upsampling is nearest with an integer factor (np.repeat rule).",
    ),
    Erratum(
        "E10-dropout-update",
        'slide "What is Dropout?" (first version)',
        "If z_i = 1, update channel i during this epoch; else ignore channel i",
        "The second slide masks the forward output (x -> Z sigma(Wx+b)), which also removes the channel "
        "from the next layer's input, not only from the update; and it draws one z_i per channel per "
        "epoch, while frameworks draw a mask per forward pass and per sample.",
        "dropout takes the mask as an argument of shape (N, C) (per sample and channel, broadcast over "
        "space); the forward output is masked and the gradient is masked the same way.",
    ),
    Erratum(
        "E11-keep-vs-drop",
        'slide "What is Dropout?"',
        "z_i ~ Ber(p): p is the probability of KEEPING channel i",
        "torch, Keras, ONNX and Flax take the DROP probability (1 - p) as their dropout argument.",
        "spec's argument is named keep_prob and must lie in (0, 1].",
    ),
    Erratum(
        "E12-bn-eval",
        'slide "Batch Normalization"',
        "mu_B, sigma_B are batch statistics",
        "Nothing says what to use at evaluation (batch of one sample, or a constant channel) or over "
        "which axes a conv layer's channel is normalised.",
        "batch_norm normalises per channel over batch and spatial axes; batch_norm_eval uses running "
        "statistics updated by running_stats (torch convention, unbiased variance).",
    ),
    Erratum(
        "E13-even-kernels",
        'slides "What is a discrete convolution?", "Example with Zero Padding"',
        "kernels have 2 n_k + 1 taps; pad one zero on each side",
        "Even kernels, and how much to pad for them, are not covered; frameworks disagree (torch/TF/ONNX "
        "SAME_UPPER pad the extra zero at the end, numpy/scipy 'same' at the start).",
        "before = d(k-1)//2, after = d(k-1) - before: the extra pad at the END.",
    ),
    Erratum(
        "E14-stride-dilation",
        'slides "What is a discrete convolution?" and "Downsampling and Upsampling"',
        "the kernel is applied 'everywhere'",
        "Stride and dilation are not mentioned, though strided convolution is the usual alternative to "
        "pooling for downsampling.",
        "stride s sub-samples the stride-1 result from index 0; dilation d spaces the taps; "
        "output size (n + pads - span)//s + 1.",
    ),
    Erratum(
        "E15-output-index",
        'slides "Example with Valid Padding" and "What is a discrete convolution?"',
        "(x * k)_i with i the centre of the window",
        "In the centred formula the first 'valid' output is i = 1 (i = n_k in general); the slides print "
        "it as the first entry.",
        "Outputs are indexed from 0: y_0 is the first full window ('valid') or the window centred on x_0 "
        "('same'/'periodic').",
    ),
    Erratum(
        "E16-activation",
        'slides "A complete convolution layer", "What is Dropout?"',
        "sigma applied to each pixel",
        "sigma is not specified, nor its derivative at kinks.",
        "spec provides relu (relu'(0) = 0), sigmoid and tanh; NaN in -> NaN out and NaN gradient.",
    ),
    Erratum(
        "E17-locally-connected",
        'slide "Downsides"',
        "generalization: locally connected layers",
        "The slide names the layer and gives no definition: not the weight layout, the padding, the stride or "
        "whether the bias is shared across positions.",
        "spec follows Keras's LocallyConnected1D/2D: 'valid' windows only, out = (n - k)//stride + 1, "
        "w (*out, C_out, C_in, *k) with one kernel per position, b (C_out, *out) one bias per channel and "
        "position; y[i, o, p] = sum_{c, j} w[p, o, c, j] x[i, c, p*stride + j] + b[o, p] (spec/local.py).",
    ),
    Erratum(
        "E18-graph-convolutions",
        'slide "Downsides"',
        "Requires a grid - generalization: graph convolutions",
        "The slide names graph convolutions and gives no rule: not whether edges are directed, how "
        "neighbours are weighted (sum, mean, the GCN rule), which degree is used, or whether a node sees "
        "itself.",
        "spec follows PyTorch Geometric's GCNConv: edges (E, 2) are DIRECTED (source, target) rows, duplicates "
        "counted; self_loops=True adds (v, v) for every node; deg[v] = rows whose target is v; coefficient "
        "deg[s]^-1/2 deg[t]^-1/2 ('symmetric'), 1/deg[t] ('mean') or 1 ('none'), 0 for a zero degree; "
        "y[v] = sum of coef * (w @ x[s]) over rows (s, v), plus b; a node no row targets gets b whatever w holds "
        "(the linear map applies per row, as GCNConv's x w^T before aggregating) (spec/graph.py).",
    ),
]


DECISIONS: list[Decision] = [
    Decision(
        "layout",
        "Arrays (N, C, *spatial) with 1-3 spatial axes; kernels (C_out, C_in, *k); dense x (N, F).",
        "spec/conv.py",
    ),
    Decision(
        "convolution",
        "Cross-correlation sum_t x[o*s + t*d - before] w[t] (no kernel flip), one bias per "
        "output channel, added last.",
        "spec/conv.py",
    ),
    Decision(
        "padding",
        "'valid' none; 'same' zeros; 'periodic' index mod n (may wrap more than once); "
        "before = d(k-1)//2, after = d(k-1) - before: the extra pad of an even kernel at the END.",
        "spec/conv.py",
    ),
    Decision(
        "stride/dilation",
        "Stride sub-samples the stride-1 output from index 0; output size "
        "(n + before + after - span)//s + 1, span = d(k-1) + 1.",
        "spec/conv.py",
    ),
    Decision(
        "zero pads and inf",
        "A zero pad is the value 0.0 multiplied like any tap: 0 * inf = nan.",
        "spec/conv.py",
    ),
    Decision(
        "activations",
        "relu'(0) = 0; sigmoid' = s(1 - s); tanh' = 1 - t^2; NaN input -> NaN output and NaN gradient.",
        "spec/activations.py",
    ),
    Decision(
        "pooling windows",
        "size 2 and stride = size by default; a remainder that does not fill a window is dropped.",
        "spec/pooling.py",
    ),
    Decision(
        "max-pool ties",
        "Gradient to the FIRST maximum in row-major window order (as torch).",
        "spec/pooling.py",
    ),
    Decision(
        "max-pool NaN",
        "A NaN in a window gives a NaN output; the gradient goes to the first NaN in row-major window order.",
        "spec/pooling.py",
    ),
    Decision(
        "upsampling",
        "Nearest, integer factor per axis, y[i] = x[i // f] (np.repeat); VJP = block sum.",
        "spec/pooling.py",
    ),
    Decision(
        "dropout probability",
        "keep_prob is the lecture's p, the KEEP probability, in (0, 1].",
        "spec/dropout.py",
    ),
    Decision(
        "dropout mask",
        "Explicit (N, C) argument broadcast over spatial axes (whole channels dropped); "
        "dropout_mask draws u = default_rng(seed).random(shape), mask = (u < keep_prob).",
        "spec/dropout.py",
    ),
    Decision(
        "dropout scaling",
        "'none' (lecture): y = x m; 'inverted' (torch/Keras/ONNX): y = x m / keep_prob; "
        "training=False: y = x.",
        "spec/dropout.py",
    ),
    Decision("batch-norm axes", "Per channel over the batch and all spatial axes.", "spec/batchnorm.py"),
    Decision(
        "batch-norm variance",
        "Training normalises with the BIASED variance, eps inside the square root: "
        "(x - mu) / sqrt(var + eps), eps = 1e-5 by default.",
        "spec/batchnorm.py",
    ),
    Decision(
        "batch-norm evaluation",
        "batch_norm_eval uses running_mean / running_var; the running stats are not differentiable.",
        "spec/batchnorm.py",
    ),
    Decision(
        "batch-norm evaluation at running_var + eps <= 0",
        "A negative sum gives NaN (sqrt of a negative number). A sum of exactly 0 divides by zero as IEEE 754 "
        "does, in the unfused order gamma * ((x - mean) / 0) + beta: -inf, NaN at x == mean, +inf. A fused "
        "x * a + (beta - mean * a) gives NaN everywhere; no check draws this point, the semantics table shows it.",
        "spec/batchnorm.py",
    ),
    Decision(
        "running statistics",
        "torch convention new = (1 - m) old + m batch, m = 0.1, UNBIASED batch "
        "variance; Keras/Flax/ONNX momentum = 1 - m (weighs the old value).",
        "spec/batchnorm.py",
    ),
    Decision(
        "VJP outputs",
        "One gradient per differentiable positional array given, in order; dropout's mask "
        "and batch_norm_eval's running stats get none; a cotangent of the wrong shape raises "
        "ValueError naming g.shape.",
        "spec/__init__.py",
    ),
    Decision(
        "precision",
        "spec converts every input to float64, computes with explicit Python loops and returns float64.",
        "spec/__init__.py",
    ),
    Decision(
        "exactness",
        "relu, max_pool, upsample, dropout without scaling (or in evaluation mode) and the routing VJPs "
        "(relu, max_pool with non-overlapping windows, dropout without scaling) involve no rounding: a backend "
        "must match spec bit for bit, signed zeros and NaN positions included (relu(-0.0) = +0.0; entries "
        "that get no gradient are +0.0); otherwise the failure category is 'inexact'.",
        "conformance/optable.py",
    ),
    Decision(
        "subnormals",
        "spec keeps subnormal inputs and intermediates (IEEE gradual underflow). Whether a backend keeps or "
        "flushes them is ONE check ('subnormals': relu, dense, conv probes of powers of two); flushing fails "
        "unless the backend declares flushes_subnormals = True. Ordinary checks do not judge flushing: for a "
        "declared flusher the tolerance's absolute floor is K * tiny * 2**11 instead of K * tiny (a flushed "
        "intermediate below tiny, times at most |x| <= 4 over sqrt(eps >= 1e-5), stays below 2**11 tiny).",
        "conformance/tolerance.py",
    ),
    Decision(
        "expected deviations",
        "A declared deviation has a scope (op, dtype, check patterns and the failure categories it covers) "
        "and, for a tolerance-judged mismatch, a bound: a unit roundoff (TF32: 2**-11) under which the same "
        "tolerance rule must hold, or a maximum tolerance ratio. Inside it a result is 'expected_deviation', "
        "beyond it or of another category 'fail'.",
        "impls/base.py",
    ),
    Decision(
        "locally connected layer",
        "Convolution without weight sharing: 'valid' windows, stride per axis, w (*out, C_out, C_in, *k), "
        "b (C_out, *out); all positions sharing one kernel is exactly conv(padding='valid').",
        "spec/local.py",
    ),
    Decision(
        "graph edges",
        "edges (E, 2) is an integer array of DIRECTED (source, target) rows with indices in [0, V); duplicate "
        "rows count as often as they appear; an undirected graph lists both directions.",
        "spec/graph.py",
    ),
    Decision(
        "graph degree and normalization",
        "self_loops=True appends (v, v) for every node; deg[v] counts the rows whose TARGET is v; coefficient "
        "deg[s]^-1/2 deg[t]^-1/2 (symmetric, the GCN rule), 1/deg[t] (mean) or 1 (none); a zero degree "
        "gives coefficient 0.",
        "spec/graph.py",
    ),
    Decision(
        "VJP cotangent dtype",
        "A cotangent must be a real floating-point array; a bool, integer or complex g raises ValueError "
        "naming g.dtype (a backend computes the gradients in x's dtype).",
        "spec/validate.py",
    ),
]


def render_markdown() -> str:
    lines = [
        '# Errata in the lecture "Neural Networks: Bells and Whistles"',
        "",
        "Generated from `spec/errata.py` (`python -m spec.errata > spec/ERRATA.md`). "
        "Each entry: where, what the lecture says, the evidence, and what spec does.",
        "",
    ]
    for e in ERRATA:
        lines += [
            f"## {e.id}",
            "",
            f"- **Where:** {e.where}",
            f"- **Lecture says:** {e.lecture_says}",
            f"- **Evidence:** {e.evidence}",
            f"- **Decision:** {e.decision}",
            "",
        ]
    lines += ["# Semantic decisions", "", "| topic | decision | where |", "|---|---|---|"]
    for d in DECISIONS:
        lines.append(f"| {d.topic} | {d.decision} | `{d.where}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
