"""nn.utils.rnn: padding variable-length sequences into one batch (collate functions use it).
Packed sequences are not provided: ember's RNNs take padded batches."""

from __future__ import annotations

from collections.abc import Sequence

import ember
from ember.nn import functional as F
from ember.tensor import Tensor

__all__ = ["pad_sequence", "unpad_sequence"]


def pad_sequence(sequences: Tensor | Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Matches `torch.nn.utils.rnn.pad_sequence`: a list of (L_i, *) tensors -> (L_max, B, *)
    (or (B, L_max, *) with batch_first), padded with padding_value on padding_side."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    seqs = list(sequences.unbind(0)) if isinstance(sequences, Tensor) else list(sequences)
    if not seqs:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        extra = longest - s.shape[0]
        # F.pad lists (left, right) pairs from the last dim back: trailing dims get none
        spec = [0, 0] * (s.dim() - 1) + ([0, extra] if padding_side == "right" else [extra, 0])
        padded.append(F.pad(s, spec, value=padding_value) if extra else s)
    return ember.stack(padded, dim=0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor,
                   batch_first: bool = False) -> list[Tensor]:
    """Matches `torch.nn.utils.rnn.unpad_sequence`: the inverse of pad_sequence (right padding)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:int(n)] for seq, n in zip(padded_sequences, lengths.tolist())]
