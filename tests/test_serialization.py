"""ember.save/ember.load against torch.save/torch.load and the safetensors package, both ways."""

from __future__ import annotations

import collections
import fractions
import io
import os

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as st_load_file
from safetensors.numpy import save_file as st_save_file

import ember
from ember.serialization import CheckpointError

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
          "bool"]


def _np_of(t: torch.Tensor) -> np.ndarray:
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _ember_np(t: ember.Tensor) -> np.ndarray:
    return t.float().numpy() if t.dtype == ember.bfloat16 else t.numpy()


def _values(dtype: str) -> np.ndarray:
    return (np.arange(12) % 2 if dtype == "bool" else np.arange(12) - 3).reshape(3, 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_round_trips_with_torch(tmp_path, dtype: str) -> None:
    e = ember.tensor(_values(dtype).tolist(), dtype=dtype)
    ember.save({"x": e, "row": e[1], "t": e.t()}, tmp_path / "e.pt")
    got = torch.load(tmp_path / "e.pt", weights_only=True)
    assert str(got["x"].dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(_np_of(got["x"]), _ember_np(e))
    np.testing.assert_array_equal(_np_of(got["t"]), _ember_np(e.t()))
    # views share one storage, as torch's own views do
    assert got["row"].untyped_storage().data_ptr() == got["x"].untyped_storage().data_ptr()

    t = torch.tensor(_values(dtype).tolist(), dtype=getattr(torch, dtype))
    torch.save({"x": t, "t": t.t(), "row": t[1]}, tmp_path / "t.pt")
    back = ember.load(tmp_path / "t.pt")
    assert back["x"].dtype.name == dtype
    np.testing.assert_array_equal(_ember_np(back["t"]), _np_of(t.t()))
    np.testing.assert_array_equal(_ember_np(back["row"]), _np_of(t[1]))


def test_nested_python_values_and_state_dict_metadata(tmp_path) -> None:
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    obj = {"model": tmodel.state_dict(), "epoch": 3, "lr": 0.5, "name": "run", "none": None,
           "flags": [True, False], "pair": (1, 2.5), "blob": b"\x00\xff", "tags": {"a", "b"},
           "big": 2**70, "neg": -(2**40), "view": torch.arange(100.0)[10:12]}
    torch.save(obj, tmp_path / "t.pt")
    got = ember.load(tmp_path / "t.pt")
    assert list(got["model"]) == list(tmodel.state_dict())
    assert got["model"]._metadata == tmodel.state_dict()._metadata
    for k in ("epoch", "lr", "name", "none", "flags", "pair", "blob", "tags", "big", "neg"):
        assert got[k] == obj[k], k
    assert got["view"].tolist() == [10.0, 11.0]
    assert got["model"]["1.num_batches_tracked"].dtype is ember.int64
    ember.save(got, tmp_path / "e.pt")
    again = torch.load(tmp_path / "e.pt", weights_only=True)
    assert again["model"]._metadata == tmodel.state_dict()._metadata
    tmodel.load_state_dict(again["model"])
    for k in ("epoch", "lr", "name", "none", "flags", "pair", "blob", "tags", "big", "neg"):
        assert again[k] == obj[k], k


def test_requires_grad_and_non_contiguous(tmp_path) -> None:
    x = ember.ones(2, 3, requires_grad=True)
    nc = ember.tensor(np.arange(24.0).reshape(4, 6)).t()[::2]
    ember.save({"x": x, "nc": nc, "exp": ember.ones(3)[None].expand(4, 3)}, tmp_path / "a.pt")
    got = torch.load(tmp_path / "a.pt", weights_only=True)
    assert got["x"].requires_grad
    np.testing.assert_array_equal(got["nc"].numpy(), nc.numpy())
    assert got["exp"].shape == (4, 3)
    back = ember.load(tmp_path / "a.pt")
    assert back["x"].requires_grad and back["nc"].tolist() == nc.tolist()


def test_optimizer_state_dict_loads_into_torch(tmp_path) -> None:
    state = {"state": {0: {"step": ember.tensor(3.0), "exp_avg": ember.zeros(2),
                           "exp_avg_sq": ember.ones(2)}},
             "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8,
                               "weight_decay": 0.01, "amsgrad": False, "maximize": False,
                               "foreach": None, "capturable": False, "differentiable": False,
                               "fused": None, "decoupled_weight_decay": True, "params": [0]}]}
    ember.save(state, tmp_path / "opt.pt")
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([p])
    opt.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    assert opt.state[p]["exp_avg_sq"].tolist() == [1.0, 1.0]


def test_file_objects_and_bytesio() -> None:
    buf = io.BytesIO()
    ember.save({"a": ember.ones(2)}, buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["a"].tolist() == [1.0, 1.0]
    buf.seek(0)
    assert ember.load(buf)["a"].tolist() == [1.0, 1.0]
    tb = io.BytesIO()
    torch.save(torch.arange(3), tb)
    tb.seek(0)
    assert ember.load(tb).tolist() == [0, 1, 2]


def test_loaded_tensors_are_writable_and_independent(tmp_path) -> None:
    torch.save({"a": torch.ones(3)}, tmp_path / "t.pt")
    a = ember.load(tmp_path / "t.pt")["a"]
    a.add_(1)
    assert a.tolist() == [2.0, 2.0, 2.0]


def test_safetensors_both_ways(tmp_path) -> None:
    tensors = {"w": ember.tensor(np.arange(6.0).reshape(2, 3), dtype="float32"),
               "b": ember.tensor([1, 2], dtype="int64"), "m": ember.tensor([True, False]),
               "h": ember.ones(2, dtype="bfloat16")}
    ember.save(tensors, tmp_path / "a.safetensors", metadata={"format": "pt"})
    got = st_load_file(str(tmp_path / "a.safetensors"))
    assert set(got) == set(tensors)
    np.testing.assert_array_equal(got["w"], tensors["w"].numpy())
    st_save_file({"x": np.arange(4, dtype=np.float16), "y": np.eye(2)}, str(tmp_path / "b.st"),
                 metadata={"k": "v"})
    back = ember.load(tmp_path / "b.st")  # recognised from the bytes, not the suffix
    assert back["x"].dtype is ember.float16 and back["y"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert ember.load(tmp_path / "a.safetensors")["h"].dtype is ember.bfloat16


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path) -> None:
    path = tmp_path / "ckpt.pt"
    ember.save({"v": ember.ones(2)}, path)

    class Boom:
        pass

    with pytest.raises(TypeError):
        ember.save({"v": ember.zeros(2), "bad": Boom()}, path)
    assert ember.load(path)["v"].tolist() == [1.0, 1.0]
    assert os.listdir(tmp_path) == ["ckpt.pt"]
    mode = os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_weights_only_false_reads_with_the_same_allow_list(tmp_path) -> None:
    torch.save({"a": torch.ones(2), "n": 1}, tmp_path / "a.pt")
    with pytest.warns(UserWarning, match=r"weights_only=False.*same allow-list"):
        got = ember.load(tmp_path / "a.pt", weights_only=False)
    assert got["a"].tolist() == [1.0, 1.0] and got["n"] == 1
    torch.save({"obj": fractions.Fraction(1, 3)}, tmp_path / "b.pt")  # needs an import to load
    with pytest.warns(UserWarning), pytest.raises(ember.serialization.UnpicklingError,
                                                  match="fractions.Fraction"):
        ember.load(tmp_path / "b.pt", weights_only=False)


def test_parameters_round_trip(tmp_path) -> None:
    p = torch.nn.Parameter(torch.ones(2))
    q = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
    torch.save({"p": p, "q": q}, tmp_path / "p.pt")
    got = ember.load(tmp_path / "p.pt")
    assert type(got["p"]).__name__ == "Parameter" and got["p"].requires_grad
    assert not got["q"].requires_grad
    ember.save(got, tmp_path / "e.pt")
    back = torch.load(tmp_path / "e.pt", weights_only=True)
    assert isinstance(back["p"], torch.nn.Parameter) and not back["q"].requires_grad


def test_ordered_dict_type_is_kept(tmp_path) -> None:
    od = collections.OrderedDict([("b", ember.ones(1)), ("a", ember.zeros(1))])
    ember.save(od, tmp_path / "o.pt")
    got = torch.load(tmp_path / "o.pt", weights_only=True)
    assert isinstance(got, collections.OrderedDict) and list(got) == ["b", "a"]


def test_legacy_non_zip_files_from_torch_load(tmp_path) -> None:
    x = torch.arange(12.0).reshape(3, 4)
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    obj = {"x": x, "row": x[1], "col": x[:, 2], "half": torch.ones(3, dtype=torch.float16),
           "bf": torch.arange(4, dtype=torch.bfloat16), "mask": torch.tensor([True, False]),
           "long": torch.arange(7)[::3], "empty": torch.zeros(0, 2),
           "p": torch.nn.Parameter(torch.ones(2)), "model": tmodel.state_dict(), "epoch": 4,
           "rng": torch.get_rng_state()}
    torch.save(obj, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    got = ember.load(tmp_path / "old.pt")
    ref = torch.load(tmp_path / "old.pt", weights_only=True)
    for k in ("x", "row", "col", "half", "bf", "mask", "long", "empty", "p", "rng"):
        assert str(got[k].dtype) == str(ref[k].dtype), k
        assert got[k].shape == tuple(ref[k].shape), k
        np.testing.assert_array_equal(_ember_np(got[k].detach()), _np_of(ref[k].detach()),
                                      err_msg=k)
    assert type(got["p"]).__name__ == "Parameter" and got["epoch"] == 4
    got["x"].add_(1)  # views of one storage stay views of one storage
    assert got["row"].tolist() == [5.0, 6.0, 7.0, 8.0]
    emodel = ember.nn.Sequential(ember.nn.Linear(3, 2), ember.nn.BatchNorm1d(2))
    emodel.load_state_dict(got["model"])
    assert got["model"]._metadata == tmodel.state_dict()._metadata


def test_dtypes_ember_lacks_and_missing_directories_get_clear_errors(tmp_path) -> None:
    for dtype in (torch.complex64, torch.uint16, torch.float8_e4m3fn):
        buf = io.BytesIO()
        torch.save({"x": torch.zeros(2, dtype=dtype)}, buf)
        buf.seek(0)
        with pytest.raises(CheckpointError, match="dtype ember does not have"):
            ember.load(buf)
    missing = tmp_path / "no" / "such" / "dir" / "ck.pt"
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match=r"Parent directory .*dir does not exist\."):
            lib.save({"a": 1}, missing)
    assert not (tmp_path / "no").exists()
