"""A script written for PyTorch: imports, CPU fallbacks, and a tiny regression, unchanged."""

import subprocess
import sys

import torch
import torch.backends.cudnn as cudnn
from torch.distributed import destroy_process_group, init_process_group  # noqa: F401
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: F401
from torch.utils.tensorboard import SummaryWriter

assert torch.__version__.startswith("2.13")
assert not torch.cuda.is_available() and not torch.cuda.is_bf16_supported()
assert not torch.accelerator.is_available()
cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
try:
    torch.device("cuda")
    raise SystemExit("torch.device('cuda') should fail")
except RuntimeError as e:
    assert "cuda" in str(e)
writer = SummaryWriter("unused")
writer.add_scalar("loss", 1.0, 0)
scaler = torch.cuda.amp.GradScaler(enabled=False)
fn = torch.compile(lambda a: a * 2)

torch.manual_seed(0)
w_true = torch.tensor([[2.0], [-3.0]])
x = torch.randn(64, 2, device=device)
y = x @ w_true + 0.5
w = torch.zeros(2, 1, requires_grad=True)
b = torch.zeros(1, requires_grad=True)
for _ in range(200):
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        b -= 0.1 * b.grad
        w.grad.zero_()
        b.grad.zero_()
print("loss %.6f" % loss.item())
assert loss.item() < 1e-6
assert fn(torch.ones(1)).item() == 2.0
try:
    torch.not_a_real_function_xyz()
except AttributeError as e:
    assert "torch.not_a_real_function_xyz" in str(e)
child = subprocess.run([sys.executable, "-c", "import torch; print(torch.ones(2).sum().item())"],
                       capture_output=True, text=True, check=True)
assert child.stdout.strip() == "2.0", child.stdout
print("ok")
