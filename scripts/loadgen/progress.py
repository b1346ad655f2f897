"""Progress bars of the long-running load tools (tqdm, from the ``sim`` and ``bench``
extras). tqdm is imported when a bar is made, not with this module, so ``flashstock
--help`` and the commands that need no extra work without it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar, cast

T = TypeVar("T")


class Progress(Protocol):
    """The part of a ``tqdm`` bar the tools use."""

    n: float

    def update(self, n: float | None = 1) -> bool | None: ...

    def set_postfix_str(self, s: str = "", refresh: bool | None = True) -> None: ...

    def close(self) -> None: ...


def progress_bar(**options: Any) -> Progress:
    """A bar that the caller advances with ``update``; ``options`` as tqdm's."""
    from tqdm import tqdm

    return cast(Progress, tqdm(**options))


def progress_over(items: Iterable[T], **options: Any) -> Iterator[T]:
    """``items``, advancing a bar as they are taken; ``options`` as tqdm's."""
    from tqdm import tqdm

    return iter(cast(Iterable[T], tqdm(items, **options)))
