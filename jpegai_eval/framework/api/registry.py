"""Registries owned by the framework: type-checked, duplicate-refusing, helpful on a miss.

Codecs are keyed by ``(id, backend)`` because one codec id can have several backends
(``hyperprior-msssim`` in CompressAI and in TFC); tasks, anchors and report writers
by id.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Generic, TypeVar

from jpegai_eval.framework.api.metric_types import Metric
from jpegai_eval.framework.api.types import (
    Anchor,
    Codec,
    Registered,
    ReportWriter,
    Task,
    TaskOption,
    missing_task_methods,
)
from jpegai_eval.framework.errors import DuplicateIdError, UnknownNameError, UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects of one kind, by key, each remembering the plugin that registered it."""

    def __init__(self, kind: str, cls: type) -> None:
        self.kind = kind
        self.cls = cls
        self._entries: dict[str, Registered] = {}

    def key(self, obj: T) -> str:
        return str(getattr(obj, "id", ""))

    def add(self, obj: T, plugin: str, distribution: dict[str, str] | None = None) -> None:
        if not isinstance(obj, self.cls):
            raise TypeError(
                f"Plugin {plugin!r} registered {obj!r} as a {self.kind}, but it is not a "
                f"{self.cls.__module__}.{self.cls.__name__}."
            )
        key = self.key(obj)
        if not getattr(obj, "id", ""):
            raise TypeError(f"Plugin {plugin!r} registered a {self.kind} without an id.")
        if key in self._entries:
            first = self._entries[key].plugin
            raise DuplicateIdError(
                f"Duplicate {self.kind} {key!r}: registered by plugin {first!r} and again "
                f"by plugin {plugin!r}. Uninstall one of them, or limit external plugins "
                "with JPEGAI_EVAL_LOAD_PLUGINS."
            )
        self._entries[key] = Registered(obj, plugin, distribution or {})

    def get(self, name: str) -> T:
        try:
            return self._entries[name].obj  # type: ignore[no-any-return]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.ids()) from None

    def origin(self, key: str) -> Registered:
        return self._entries[key]

    def ids(self) -> list[str]:
        return sorted({str(getattr(e.obj, "id", k)) for k, e in self._entries.items()})

    def entries(self) -> Iterator[Registered]:
        return iter(self._entries.values())

    def __iter__(self) -> Iterator[T]:
        return (e.obj for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


class CodecRegistry(Registry[Codec]):
    """Codecs by ``id/backend``; a lookup by id alone takes the first backend registered
    (built-ins register first, so CompressAI is the default for the hyperprior)."""

    def __init__(self) -> None:
        super().__init__("codec", Codec)

    def key(self, obj: Codec) -> str:
        return obj.key

    def add(self, obj: Codec, plugin: str, distribution: dict[str, str] | None = None) -> None:
        if isinstance(obj, Codec):
            check_load_signature(obj, plugin)
            taken = {c.id: c.key for c in self} | {a: c.key for c in self for a in c.aliases}
            for alias in obj.aliases:
                if alias in taken and taken[alias].split("/", 1)[0] != obj.id:
                    raise DuplicateIdError(
                        f"Plugin {plugin!r} registered codec {obj.key!r} with the alias "
                        f"{alias!r}, which already names codec {taken[alias]!r}. Choose "
                        "another alias."
                    )
        super().add(obj, plugin, distribution)

    def resolve(self, codec_id: str, backend: str | None = None) -> Codec:
        """The codec ``codec_id`` (an id, or an alias when no codec has that id) with
        ``backend`` (None: the first available one)."""
        matches = [c for c in self if c.id == codec_id]
        if not matches:
            matches = [c for c in self if codec_id in c.aliases]
        if not matches:
            raise UnknownNameError("codec", codec_id, self.ids())
        if backend is None:
            available = [c for c in matches if not c.unavailable_reason]
            chosen = (available or matches)[0]
        else:
            chosen = next((c for c in matches if c.backend == backend), None)  # type: ignore[assignment]
            if chosen is None:
                known = ", ".join(c.backend for c in matches)
                raise UsageError(
                    f"Codec {codec_id!r} has no backend {backend!r}; its backends are {known}."
                )
        chosen.check_available()
        return chosen

    def backends(self, codec_id: str) -> list[str]:
        return [c.backend for c in self if c.id == codec_id]


def check_load_signature(codec: Codec, plugin: str) -> None:
    """Refuse a codec whose ``load`` does not declare ``Codec.load``'s parameters, so a
    run with ``--weights-dir`` never fails half-way with a TypeError."""
    try:
        params = inspect.signature(codec.load).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    missing = [n for n in ("quality", "weights", "device", "weights_dir") if n not in params]
    if missing:
        raise TypeError(
            f"Plugin {plugin!r} registered codec {codec.key!r} whose load() lacks "
            f"{', '.join(missing)}. Declare load(self, quality, weights=None, "
            "device='cpu', weights_dir=None), as jpegai_eval.Codec does."
        )


class TaskRegistry(Registry[Task]):
    """Tasks by id. A task must implement every method of :attr:`Task.REQUIRED` and
    declare its options as :class:`~jpegai_eval.framework.api.types.TaskOption`; both are
    checked here, when its plugin loads, so a broken task fails at start."""

    def __init__(self) -> None:
        super().__init__("task", Task)

    def add(self, obj: Task, plugin: str, distribution: dict[str, str] | None = None) -> None:
        if isinstance(obj, type) and issubclass(obj, Task):
            missing = missing_task_methods(obj)
            lacks = f" (it also lacks {', '.join(missing)})" if missing else ""
            raise TypeError(
                f"Plugin {plugin!r} registered the class {obj.__name__} as a task; register "
                f"an instance instead: register({obj.__name__}()){lacks}."
            )
        if isinstance(obj, Task):
            missing = missing_task_methods(obj)
            if missing:
                raise TypeError(
                    f"Plugin {plugin!r} registered task {obj.id!r} "
                    f"({type(obj).__module__}.{type(obj).__name__}) without "
                    f"{', '.join(missing)}: every task implements "
                    f"{', '.join(Task.REQUIRED)} (see README, 'Writing a task plugin')."
                )
            bad = [o for o in obj.options if not isinstance(o, TaskOption)]
            if bad:
                raise TypeError(
                    f"Plugin {plugin!r} registered task {obj.id!r} whose options are not "
                    f"all TaskOption instances: {bad[:3]!r}."
                )
        super().add(obj, plugin, distribution)


def make_registries() -> dict[str, Registry]:  # type: ignore[type-arg]
    return {
        "codecs": CodecRegistry(),
        "tasks": TaskRegistry(),
        "anchors": Registry[Anchor]("anchor", Anchor),
        "report_writers": Registry[ReportWriter]("report writer", ReportWriter),
        "metrics": Registry[Metric]("metric", Metric),
    }
