# ruff: noqa: E501, UP032  (kept as the PyTorch original writes it)
"""A regression script as the tutorials write one: an nn.Sequential MLP on synthetic data,
MSELoss, Adam with a scheduler, .item() logging, %d/format() of 0-d tensors, no_grad evaluation."""

import torch
from torch import nn, optim
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset, random_split

torch.manual_seed(42)
device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
print(f"Using {device} device")

# y = sin(x0) + 0.5 * x1^2 - x2 + noise
N = 512
X = torch.rand(N, 3) * 4 - 2
y = (torch.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2]).unsqueeze(1) + 0.05 * torch.randn(N, 1)
train_set, test_set = random_split(TensorDataset(X, y), [0.8, 0.2])
train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
test_loader = DataLoader(test_set, batch_size=64)

model = nn.Sequential(
    nn.Linear(3, 64),
    nn.ReLU(),
    nn.Linear(64, 64),
    nn.Tanh(),
    nn.Linear(64, 1),
).to(device)
print(model)

loss_fn = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=1e-2)
scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2)
step_lr = lr_scheduler.ExponentialLR(optimizer, gamma=0.95)


def evaluate():
    model.eval()
    total, count = torch.tensor(0.0), 0
    with torch.no_grad():
        for xb, yb in test_loader:
            xb, yb = xb.to(device), yb.to(device)
            pred = model(xb)
            total += loss_fn(pred, yb) * len(xb)
            count += len(xb)
    assert not total.requires_grad
    return total / count


first = evaluate().item()
print("initial test MSE: {:.4f}".format(first))
for epoch in range(8):
    model.train()
    running = 0.0
    for batch, (xb, yb) in enumerate(train_loader):
        pred = model(xb)
        loss = loss_fn(pred, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running += loss.item()
    test_mse = evaluate()
    scheduler.step(test_mse)
    step_lr.step()
    n_batches = torch.tensor(batch + 1)
    print("epoch %d: %d batches, train loss %.4f, test MSE %s, lr %.5f"
          % (epoch + 1, n_batches, running / (batch + 1), format(test_mse, ".4f"),
             optimizer.param_groups[0]["lr"]))

# 0-d tensors stand in for Python numbers as they do in torch
best = torch.argmin(torch.stack([evaluate(), torch.tensor(float(first))]))
assert ["trained", "initial"][best] == "trained"
assert "{:d}".format(torch.tensor(7)) == "7" and f"{torch.tensor(2.5):.1f}" == "2.5"
assert bool(torch.tensor(1.0)) and not bool(torch.tensor(0))
assert list(range(10))[torch.tensor(3)] == 3
final = evaluate().item()
print(f"initial test MSE {first:.4f} final test MSE {final:.4f}")
assert final < 0.25 * first, (first, final)
with torch.no_grad():
    sample = model(torch.tensor([[0.5, -1.0, 0.25]]))
print("prediction for [0.5, -1.0, 0.25]: %.3f" % sample)
print("ok")
