"""Run PyTorch programs on ember: `install()` makes `import torch` (and its submodules) resolve
to ember for this process; `python -m ember.compat script.py` does it for a script and, through
an alias folder put first on PYTHONPATH, for the processes it starts."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Any

from ember.compat import stubs

ALIAS_DIR = os.path.join(os.path.dirname(__file__), "_alias")

# torch module name -> the ember module (or stub) that stands in for it
_TARGETS = {
    "torch": "ember",
    "torch.nn": "ember.nn",
    "torch.nn.functional": "ember.nn.functional",
    "torch.nn.init": "ember.nn.init",
    "torch.nn.parameter": "ember.nn.parameter",
    "torch.nn.modules": "ember.nn.modules",
    "torch.nn.utils": "ember.nn.utils",
    "torch.optim": "ember.optim",
    "torch.optim.lr_scheduler": "ember.optim.lr_scheduler",
    "torch.optim.optimizer": "ember.optim.optimizer",
    "torch.optim.swa_utils": "ember.optim.swa_utils",
    "torch.utils": "ember.utils",
    "torch.utils.data": "ember.utils.data",
    "torch.utils.data.dataloader": "ember.utils.data.dataloader",
    "torch.utils.data.dataset": "ember.utils.data.dataset",
    "torch.utils.data.sampler": "ember.utils.data.sampler",
    "torch.utils.data.distributed": "ember.utils.data.sampler",
    "torch.autograd": "ember.autograd",
    "torch.serialization": "ember.serialization",
}
# torch.nn.modules.<file> paths that programs import classes from
_MODULE_FILES = ["linear", "sparse", "rnn", "dropout", "container", "normalization", "activation",
                 "transformer", "conv", "pooling", "loss", "module", "flatten", "batchnorm"]


class _Alias(types.ModuleType):
    """`torch.<x>` as seen by a script: ember's module, plus stubs, plus a clear error for
    anything missing (an AttributeError subclass, so hasattr() still works)."""

    def __init__(self, name: str, target: Any, extra: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.__dict__["_target"] = target
        self.__dict__["_extra"] = extra or {}
        self.__dict__["__path__"] = []  # a package, so `import torch.x.y` finds our entries
        self.__dict__["__file__"] = getattr(target, "__file__", None)

    def __getattr__(self, attr: str) -> Any:
        extra = self.__dict__["_extra"]
        if attr in extra:
            return extra[attr]
        target = self.__dict__["_target"]
        if target is not None and hasattr(target, attr):
            value = getattr(target, attr)
            if isinstance(value, types.ModuleType) and value.__name__.startswith("ember."):
                # ember.random seen as torch.random: an alias too, so its gaps name themselves
                value = _submodule(f"{self.__name__}.{attr}", value)
                extra[attr] = value
            return value
        if attr.startswith("__"):
            raise AttributeError(attr)
        if target is not None and hasattr(target, "__path__"):
            # torch imports torch.linalg, torch.distributions, ... with itself: load ember's
            try:
                sub = importlib.import_module(f"{target.__name__}.{attr}")
            except ImportError:
                pass
            else:
                extra[attr] = _submodule(f"{self.__name__}.{attr}", sub)
                return extra[attr]
        raise MissingTorchAPI(f"{self.__name__}.{attr}")

    def __setattr__(self, attr: str, value: Any) -> None:
        self.__dict__["_extra"][attr] = value

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self.__dict__["_target"])) | set(self.__dict__["_extra"]))


class MissingTorchAPI(AttributeError):
    """A torch name that ember does not provide."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not implemented by ember (this program imports torch, which "
                         f"ember stands in for); ember has no equivalent of `{name}` yet")


class MissingTorchModule(ModuleNotFoundError):
    """A torch submodule that ember does not provide (a ModuleNotFoundError, so the usual
    `try: import torch.x except ImportError:` fallbacks still work)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No module named '{name}': ember (standing in for torch in this "
                         f"program) has no equivalent of `{name}` yet", name=name)


def _submodule(name: str, target: types.ModuleType) -> _Alias:
    """The alias for torch submodule `name` over ember module `target`, made once."""
    mod = sys.modules.get(name)
    if not isinstance(mod, _Alias):
        mod = _Alias(name, target)
        sys.modules[name] = mod
    return mod


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: types.ModuleType) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _Alias(spec.name, self.target)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _TorchFinder(importlib.abc.MetaPathFinder):
    """`import torch.x.y` beyond the prepared names: ember.x.y (as an alias) where ember has
    it, else MissingTorchModule naming what is missing."""

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("torch.") or "torch" not in sys.modules:
            return None
        try:
            ember_mod = importlib.import_module("ember" + fullname[len("torch"):])
        except ImportError:
            raise MissingTorchModule(fullname) from None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(ember_mod))


def _modules() -> dict[str, types.ModuleType]:
    mods: dict[str, types.ModuleType] = {}
    for name, target in _TARGETS.items():
        try:
            mod = importlib.import_module(target)
        except ImportError:
            mod = None  # type: ignore[assignment]
        mods[name] = _Alias(name, mod, stubs.EXTRAS.get(name))
    nn_modules = mods["torch.nn.modules"]
    for f in _MODULE_FILES:
        mods[f"torch.nn.modules.{f}"] = _Alias(f"torch.nn.modules.{f}",
                                               importlib.import_module("ember.nn"))
        nn_modules.__dict__["_extra"][f] = mods[f"torch.nn.modules.{f}"]
    for name, stub in stubs.modules().items():
        mods[name] = stub
    # attributes: torch.nn, torch.cuda, ... reachable from their parents
    for name, mod in sorted(mods.items()):
        parent, _, child = name.rpartition(".")
        if parent in mods:
            mods[parent].__dict__["_extra"].setdefault(child, mod)
    return mods


def install() -> None:
    """Make `import torch` and its usual submodules resolve to ember in this process."""
    for name, mod in _modules().items():
        sys.modules[name] = mod
    if not any(isinstance(f, _TorchFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchFinder())


def run(argv: list[str]) -> None:
    """`python -m ember.compat script.py [args...]` (or `-m module`)."""
    import runpy

    if not argv:
        raise SystemExit("usage: python -m ember.compat script.py [args...]  (or -m module)")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [ALIAS_DIR, *filter(None, [os.environ.get("PYTHONPATH")])])
    sys.path.insert(0, ALIAS_DIR)
    install()
    if argv[0] == "-m":
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
        runpy.run_path(argv[0], run_name="__main__")
