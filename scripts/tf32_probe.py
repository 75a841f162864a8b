"""Relative error of float32 conv2d against float64, with cuDNN TF32 on and off (realistic size)."""

import time

import torch

if not torch.cuda.is_available():
    print("tf32 probe: no CUDA device; skipped")
    raise SystemExit(0)
dev = "cuda"
g = torch.Generator().manual_seed(0)
x = torch.randn(32, 64, 32, 32, generator=g, dtype=torch.float64)
w = torch.randn(64, 64, 3, 3, generator=g, dtype=torch.float64) * 0.1
ref = torch.nn.functional.conv2d(x, w, padding=1)
print(f"device: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
for tf32 in (True, False):
    torch.backends.cudnn.allow_tf32 = tf32
    xs, ws = x.float().to(dev), w.float().to(dev)
    out = torch.nn.functional.conv2d(xs, ws, padding=1)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        torch.nn.functional.conv2d(xs, ws, padding=1)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / 20
    err = (out.double().cpu() - ref).abs().max().item() / ref.abs().max().item()
    flops = 2 * 32 * 64 * 32 * 32 * 64 * 9
    print(f"cudnn.allow_tf32={tf32}: max rel err {err:.3g}, {flops / dt / 1e12:.1f} TFLOP/s")
torch.backends.cudnn.allow_tf32 = True
