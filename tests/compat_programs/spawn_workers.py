"""Processes a PyTorch script starts must see ember as torch too: DataLoader workers started with
'spawn' (they re-import this file) and torch.multiprocessing.spawn."""

import os
import sys

import torch
import torch.multiprocessing as mp
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.full((2,), float(i * i))


def write_rank(rank, out_dir):
    torch.save({"torch": type(torch.zeros(1)).__module__, "t": torch.arange(3) * rank},
               os.path.join(out_dir, f"{rank}.pt"))


if __name__ == "__main__":
    loader = DataLoader(Squares(), batch_size=4, num_workers=2, multiprocessing_context="spawn")
    print("batches", [b.sum().item() for b in loader])
    mp.spawn(write_rank, args=(sys.argv[1],), nprocs=2)
    saved = [torch.load(os.path.join(sys.argv[1], f"{r}.pt")) for r in range(2)]
    print("spawned", [s["t"].tolist() for s in saved], saved[0]["torch"])
