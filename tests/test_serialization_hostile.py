"""Hostile and malformed checkpoints: every one is refused with CheckpointError (a ValueError),
nothing from the file runs, nothing is written, and memory stays bounded."""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import json
import os
import pickle
import struct
import subprocess
import tracemalloc
import zipfile

import numpy as np
import pytest

import ember
import ember.serialization
from ember.serialization import CheckpointError, CorruptCheckpointError, UnpicklingError

SENTINEL = "/tmp/ember_hostile_sentinel"


@contextlib.contextmanager
def no_code_runs():
    """Fail if anything reachable from a payload tries to run code or unpickle freely."""

    def trap(*a, **k):
        raise AssertionError("a code-running function was called while loading")

    b"x".decode("cp437")  # zipfile's codec import is Python's own, not the payload's
    targets = [(os, "system"), (os, "popen"), (subprocess, "Popen"), (builtins, "eval"),
               (builtins, "exec"), (builtins, "compile"), (importlib, "import_module"),
               (pickle, "loads"), (pickle, "load"), (pickle, "Unpickler")]
    saved = [(m, n, getattr(m, n)) for m, n in targets]
    for m, n in targets:
        setattr(m, n, trap)
    try:
        yield
    finally:
        for m, n, v in saved:
            setattr(m, n, v)


@pytest.fixture(autouse=True)
def sentinel():
    if os.path.exists(SENTINEL):
        os.unlink(SENTINEL)
    yield
    assert not os.path.exists(SENTINEL), "a payload created the sentinel file"


def pt_zip(pkl: bytes, records: dict[str, bytes] | None = None, root: str = "archive",
           compress: int = zipfile.ZIP_STORED, extra_names: list[str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        z.writestr(f"{root}/data.pkl", pkl)
        z.writestr(f"{root}/byteorder", b"little")
        for k, v in (records or {}).items():
            z.writestr(f"{root}/data/{k}", v)
        for n in extra_names or []:
            z.writestr(n, b"x")
    return buf.getvalue()


def load_bytes(data: bytes):
    load = ember.serialization.load  # resolved first: `ember.load` may be a lazy import
    with no_code_runs():
        return load(io.BytesIO(data))


def refuse(data: bytes, exc=CheckpointError, match: str | None = None) -> None:
    with pytest.raises(exc, match=match):
        load_bytes(data)


CMD = f"touch {SENTINEL}".encode()


def tensor_pickle(numel: int = 4, size=(4,), stride=(1,), offset: int = 0, key: bytes = b"0",
                  storage: bytes = b"FloatStorage") -> bytes:
    def ints(t):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in t) + b"t"

    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(("
            b"X\x07\x00\x00\x00storagectorch\n" + storage + b"\nX" + struct.pack("<I", len(key))
            + key + b"X\x03\x00\x00\x00cpu" + b"J" + struct.pack("<i", numel) + b"tQ"
            + b"J" + struct.pack("<i", offset) + ints(size) + ints(stride)
            + b"\x89ccollections\nOrderedDict\n)RtR.")


def good_record(n: int = 4) -> dict[str, bytes]:
    return {"0": np.arange(n, dtype=np.float32).tobytes()}


def test_the_helpers_build_a_valid_file() -> None:
    assert load_bytes(pt_zip(tensor_pickle(), good_record())).tolist() == [0.0, 1.0, 2.0, 3.0]


# ---- pickle content --------------------------------------------------------------------------
@pytest.mark.parametrize("proto", [b"", b"\x80\x02"])
def test_01_global_os_system(proto: bytes) -> None:
    for mod in (b"os", b"posix"):
        pkl = proto + b"c" + mod + b"\nsystem\n(X" + struct.pack("<I", len(CMD)) + CMD + b"tR."
        refuse(pt_zip(pkl), UnpicklingError, "os.system|posix.system")


def test_02_stack_global_via_memo() -> None:
    pkl = (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x94"
           b"\x8c" + bytes([len(CMD)]) + CMD + b"\x85R.")
    refuse(pt_zip(pkl), UnpicklingError)


def test_03_inst_and_obj_opcodes() -> None:
    refuse(pt_zip(b"(X" + struct.pack("<I", len(CMD)) + CMD + b"ios\nsystem\n."), UnpicklingError)
    refuse(pt_zip(b"(cos\nsystem\nX" + struct.pack("<I", len(CMD)) + CMD + b"o."), UnpicklingError)


@pytest.mark.parametrize("name", [b"eval", b"exec", b"compile", b"getattr", b"__import__",
                                  b"open"])
def test_04_builtins(name: bytes) -> None:
    refuse(pt_zip(b"\x80\x02c__builtin__\n" + name + b"\n(X\x01\x00\x00\x001tR."),
           UnpicklingError)
    refuse(pt_zip(b"\x80\x02cbuiltins\n" + name + b"\n(X\x01\x00\x00\x001tR."), UnpicklingError)


@pytest.mark.parametrize("target", [b"importlib\nimport_module", b"pydoc\nlocate",
                                    b"pkgutil\nresolve_name", b"operator\nattrgetter",
                                    b"operator\nmethodcaller", b"functools\npartial",
                                    b"marshal\nloads", b"codeop\ncompile_command",
                                    b"runpy\nrun_path", b"pip\nmain", b"cProfile\nrun",
                                    b"timeit\ntimeit", b"numpy\nload", b"torch\nload"])
def test_05_indirect_resolvers(target: bytes) -> None:
    refuse(pt_zip(b"\x80\x02c" + target + b"\n(X\x02\x00\x00\x00ostR."), UnpicklingError)


def test_06_newobj_build_on_unlisted_classes() -> None:
    refuse(pt_zip(b"\x80\x02cargparse\nNamespace\n)\x81}b."), UnpicklingError)
    # BUILD setting attributes on an allowed object (a dict) is refused
    refuse(pt_zip(b"\x80\x02}}X\x01\x00\x00\x00aKsb."), UnpicklingError)
    refuse(pt_zip(b"\x80\x02ccollections\nOrderedDict\n)R}X\x03\x00\x00\x00evilKsb."),
           UnpicklingError)


def test_07_container_type_confusion() -> None:
    refuse(pt_zip(b"\x80\x02](K\x01K\x02u."), UnpicklingError, "not a dict")
    refuse(pt_zip(b"\x80\x02)K\x01K\x02s."), UnpicklingError, "not a dict")
    refuse(pt_zip(b"\x80\x02}(K\x01e."), UnpicklingError, "not a list")
    refuse(pt_zip(b"\x80\x02X\x01\x00\x00\x00aK\x01a."), UnpicklingError, "not a list")


def test_08_bad_persistent_ids() -> None:
    refuse(pt_zip(b"\x80\x02X\x03\x00\x00\x00abcQ."), UnpicklingError, "persistent id")
    refuse(pt_zip(tensor_pickle(key=b"9"), good_record()), CheckpointError, "no record")
    refuse(pt_zip(tensor_pickle(numel=-4), good_record()), CheckpointError)
    refuse(pt_zip(tensor_pickle(numel=2**30), good_record()), CheckpointError, "bytes")


def legacy_file(main: bytes, keys: list[str], storages: list[bytes],
                little_endian: bool = True) -> bytes:
    """torch's non-zip layout: magic, protocol, sys_info, object, keys, then the storages."""
    sys_info = {"protocol_version": 1001, "little_endian": little_endian,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (pickle.dumps(0x1950A86A20F9469CFC6C, 2) + pickle.dumps(1001, 2)
            + pickle.dumps(sys_info, 2) + main + pickle.dumps(keys, 2) + b"".join(storages))


def legacy_tensor(numel: int = 4, size=(4,), view: bytes = b"N", key: bytes = b"k") -> bytes:
    """A legacy persistent id has a sixth field, an optional (view_key, offset, size)."""
    pkl = tensor_pickle(numel=numel, size=size, key=key)
    return pkl.replace(b"J" + struct.pack("<i", numel) + b"tQ",
                       b"J" + struct.pack("<i", numel) + view + b"tQ")


def legacy_storage(values: np.ndarray, count: int | None = None) -> bytes:
    return struct.pack("<q", values.size if count is None else count) + values.tobytes()


def test_09_alternate_formats() -> None:
    raw = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."
    refuse(raw, CheckpointError, "legacy")  # the legacy header, then nothing
    refuse(b"\x80\x02cos\nsystem\n.", CheckpointError)  # a bare pickle, not a zip
    refuse(pt_zip(b"\x80\x02K\x01.", extra_names=["archive/constants.pkl"])
           .replace(b"archive/data.pkl", b"archive/data.pkX"), CheckpointError, "TorchScript")
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    refuse(buf.getvalue(), CheckpointError)


def test_10_allow_listing_code_runners_is_refused() -> None:
    for obj in (os.system, eval, pickle.loads, importlib.import_module):
        with pytest.raises(UnpicklingError):
            ember.serialization.add_safe_globals([obj])
    with pytest.raises(UnpicklingError):
        ember.serialization.add_safe_globals([(subprocess.Popen, "Popen")])


@pytest.mark.parametrize("pkl", [
    b"\x80\x02t.", b"\x80\x02.", b"\x80\x02J\x01\x00", b"\x80\x02X\xff\x00\x00\x00ab.",
    b"\x80\x02h\x05.", b"\x80\x02X\x02\x00\x00\x00\xff\xfe.", b"\x80\x02\xff.",
    b"\x80\x02" + b"(" * 200_000 + b"N.", b"\x80\x02" + b"]q\x00(" * 100_000 + b"N.",
    b"\x80\x02\x86.", b"\x80\x02Ns.",
])
def test_11_malformed_opcode_streams(pkl: bytes) -> None:
    refuse(pt_zip(pkl), UnpicklingError)


def test_12_no_fallback_after_rejection(monkeypatch) -> None:
    calls = []
    original = ember.serialization._SafeUnpickler.load

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ember.serialization._SafeUnpickler, "load", counting)
    refuse(pt_zip(b"\x80\x02cos\nsystem\n."), UnpicklingError)
    assert calls == [1]
    load = ember.serialization.load
    with no_code_runs(), pytest.warns(UserWarning), pytest.raises(UnpicklingError):
        load(io.BytesIO(pt_zip(b"\x80\x02cos\nsystem\n.")), weights_only=False)
    assert calls == [1, 1]  # weights_only=False is the same reader, not an unsafe one


# ---- archive ---------------------------------------------------------------------------------
def test_13_compressed_members_refused() -> None:
    bomb = pt_zip(tensor_pickle(numel=2**24, size=(2**24,)),
                  {"0": b"\x00" * (4 * 2**24)}, compress=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 200_000
    refuse(bomb, CheckpointError, "compressed")


@pytest.mark.parametrize("name", ["archive/../../evil.sh", "/abs/data.pkl", "archive\\x",
                                  "C:/archive/x"])
def test_14_path_traversal_names(name: str) -> None:
    refuse(pt_zip(b"\x80\x02K\x01.", extra_names=[name]), CheckpointError)


def test_15_duplicate_entries() -> None:
    buf = io.BytesIO()
    with pytest.warns(UserWarning):
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02K\x01.")
            z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\n.")
    refuse(buf.getvalue(), CheckpointError, "duplicate")


def test_16_truncated_and_corrupt_archives() -> None:
    good = pt_zip(tensor_pickle(), good_record())
    for cut in (10, len(good) // 2, len(good) - 5):
        refuse(good[:cut], CheckpointError)
    refuse(b"", CorruptCheckpointError, "empty")
    flipped = bytearray(good)
    i = good.index(np.arange(4, dtype=np.float32).tobytes())
    flipped[i + 5] ^= 0xFF  # payload damage: the CRC check catches it
    refuse(bytes(flipped), CorruptCheckpointError)


def test_17_missing_and_extra_records() -> None:
    refuse(pt_zip(tensor_pickle(), {}), CheckpointError, "no record")
    extra = dict(good_record(), **{"7": b"polyglot"})
    refuse(pt_zip(tensor_pickle(), extra), CheckpointError, "not referenced")
    refuse(pt_zip(tensor_pickle(), good_record(), extra_names=["other/x"]), CheckpointError)


# ---- tensor metadata -------------------------------------------------------------------------
def test_18_record_length_mismatch() -> None:
    refuse(pt_zip(tensor_pickle(numel=4), good_record(3)), CheckpointError, "bytes")
    refuse(pt_zip(tensor_pickle(numel=4), good_record(5)), CheckpointError, "bytes")


def test_19_view_outside_storage() -> None:
    refuse(pt_zip(tensor_pickle(size=(1000, 1000), stride=(1000, 1)), good_record()),
           CheckpointError)
    refuse(pt_zip(tensor_pickle(offset=-1, size=(2,)), good_record()), CheckpointError)
    refuse(pt_zip(tensor_pickle(size=(2,), stride=(4,)), good_record()), CheckpointError, "past")
    refuse(pt_zip(tensor_pickle(size=(2,), stride=(-1,), offset=3), good_record()),
           CheckpointError)


def test_20_view_bomb_refused() -> None:
    refuse(pt_zip(tensor_pickle(size=(10**9,), stride=(0,)), good_record()), CheckpointError)


def test_21_22_overflow_and_huge_declared_sizes() -> None:
    refuse(pt_zip(tensor_pickle(size=(4194305, 4194305), stride=(1, 1)), good_record()),
           CheckpointError)
    header = {"x": {"dtype": "F32", "shape": [4194305, 4194305, 211106198978564],
                    "data_offsets": [0, 16]}}
    refuse(safetensors_bytes(header, b"\x00" * 16), CheckpointError)
    header = {"x": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}}
    refuse(safetensors_bytes(header, b"\x00" * 16), CheckpointError)


def test_23_unknown_dtype_and_bad_bools() -> None:
    refuse(pt_zip(tensor_pickle(storage=b"EvilStorage"), good_record()), UnpicklingError)
    refuse(pt_zip(tensor_pickle(storage=b"BoolStorage", numel=4), {"0": b"\x00\x01\x02\x00"}),
           CheckpointError, "bool")
    refuse(safetensors_bytes({"x": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}},
                             b"\x00"), CheckpointError, "dtype")


# ---- safetensors -------------------------------------------------------------------------------
def safetensors_bytes(header: dict | bytes, body: bytes, n: int | None = None) -> bytes:
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(head) if n is None else n) + head + body


@pytest.mark.parametrize("n", [10**6, 100_000_001, 2**64 - 1, 0])
def test_24_header_lengths(n: int) -> None:
    refuse(safetensors_bytes({}, b"", n=n) + b"{", CheckpointError)
    refuse(b"\x01\x00\x00", CheckpointError)


X = b'{"x": {"dtype": "F32", '


@pytest.mark.parametrize("head", [b"\xff\xfe{}", b"{not json}", b"[1, 2]", b"{" * 100_000,
                                  X + b'"shape": [1.5], "data_offsets": [0, 4]}}',
                                  X + b'"shape": [-1], "data_offsets": [0, 4]}}',
                                  X + b'"shape": [1], "data_offsets": [0, 1e3]}}',
                                  X + b'"shape": [1], "data_offsets": [0, 4], "extra": 1}}'])
def test_25_header_not_valid(head: bytes) -> None:
    refuse(safetensors_bytes(head, b"\x00" * 4), CheckpointError)


def test_26_duplicate_keys() -> None:
    entry = b'{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    refuse(safetensors_bytes(b'{"x": ' + entry + b', "x": ' + entry + b"}", b"\x00" * 4),
           CheckpointError, "duplicate")


@pytest.mark.parametrize("offsets,body", [([0, 8], 4), ([4, 0], 4), ([2, 6], 6), ([0, 4], 8)])
def test_27_offsets(offsets, body: int) -> None:
    header = {"x": {"dtype": "F32", "shape": [(offsets[1] - offsets[0]) // 4 if offsets[1] >=
                                                offsets[0] else 1], "data_offsets": offsets}}
    refuse(safetensors_bytes(header, b"\x00" * body), CheckpointError)
    two = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    refuse(safetensors_bytes(two, b"\x00" * 12), CheckpointError, "overlapping")


def test_28_header_bloat_is_bounded() -> None:
    header = {f"t{i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
              for i in range(20_000)}
    data = safetensors_bytes(header, b"")
    tracemalloc.start()
    out = load_bytes(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(out) == 20_000 and peak < 60 * len(data)


def test_29_metadata_must_be_strings() -> None:
    header = {"__metadata__": {"k": 1}, "x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}
    refuse(safetensors_bytes(header, b"\x00"), CheckpointError, "__metadata__")
    with pytest.raises(ValueError):
        ember.save({"__metadata__": ember.ones(1)}, "/tmp/ember_bad.safetensors")
    with pytest.raises(TypeError):
        ember.save({"x": ember.ones(1)}, "/tmp/ember_bad.safetensors", metadata={"k": 1})


def test_30_nan_and_inf_load_unchanged(tmp_path) -> None:
    vals = ember.tensor([float("nan"), float("inf"), -float("inf"), 1.0])
    ember.save({"x": vals}, tmp_path / "n.safetensors")
    got = ember.load(tmp_path / "n.safetensors")["x"].numpy()
    np.testing.assert_array_equal(got, vals.numpy())


def test_loading_memory_is_bounded_by_file_size(tmp_path) -> None:
    import torch

    ember.save({"w": ember.zeros(2_000_000)}, tmp_path / "big.pt")
    torch.save({"w": torch.zeros(2_000_000)}, tmp_path / "legacy.pt",
               _use_new_zipfile_serialization=False)
    for name in ("big.pt", "legacy.pt"):
        size = os.path.getsize(tmp_path / name)
        tracemalloc.start()
        ember.load(tmp_path / name)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 1.5 * size, (name, peak, size)


def test_nothing_is_written_outside_the_target(tmp_path) -> None:
    before = set(os.listdir(tmp_path))
    refuse(pt_zip(b"\x80\x02K\x01.", extra_names=["archive/../../evil.sh"]), CheckpointError)
    assert set(os.listdir(tmp_path)) == before
    assert not os.path.exists(tmp_path.parent / "evil.sh")


def test_31_legacy_format_cases() -> None:
    four = np.arange(4, dtype=np.float32)
    ok = legacy_file(legacy_tensor(), ["k"], [legacy_storage(four)])
    assert load_bytes(ok).tolist() == [0.0, 1.0, 2.0, 3.0]
    view = b"(X\x01\x00\x00\x00vK\x01K\x02t"  # ('v', offset 1, size 2)
    got = load_bytes(legacy_file(legacy_tensor(size=(2,), view=view), ["k"],
                                 [legacy_storage(four)]))
    assert got.tolist() == [1.0, 2.0]
    big_endian = struct.pack(">q", 4) + four.byteswap().tobytes()
    big = legacy_file(legacy_tensor(), ["k"], [big_endian], little_endian=False)
    assert load_bytes(big).tolist() == [0.0, 1.0, 2.0, 3.0]
    cases = [
        (ok.replace(b"\x8a\x0al\xfc", b"\x8a\x0am\xfc"), "magic number"),
        (legacy_file(legacy_tensor(numel=2**30, size=(4,)), ["k"], [legacy_storage(four)]),
         "more bytes than the file has"),  # refused before allocating 4 GiB
        (legacy_file(legacy_tensor(), ["k", "k"], [legacy_storage(four)] * 2), "key list"),
        (legacy_file(legacy_tensor(), ["other"], [legacy_storage(four)]), "key list"),
        (legacy_file(legacy_tensor(), ["k"], [legacy_storage(four, 3)]), "elements"),
        (legacy_file(legacy_tensor(), ["k"], [legacy_storage(four)[:-1]]), "truncated"),
        (legacy_file(legacy_tensor(), ["k"], [legacy_storage(four) + b"x"]), "unexpected bytes"),
        (legacy_file(legacy_tensor(size=(2,), view=b"(X\x01\x00\x00\x00vK\x03K\x02t"), ["k"],
                     [legacy_storage(four)]), "storage view"),
        (legacy_file(b"\x80\x02cos\nsystem\nq\x00.", [], []), "unsupported global"),
        (legacy_file(tensor_pickle(), ["k"], [legacy_storage(four)]), "persistent id"),
    ]
    for data, match in cases:
        refuse(data, CheckpointError, match)
