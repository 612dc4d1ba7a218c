"""A storyboard's values and its file: shots in order, their takes, which take each uses.

The file (``parse``): ``{"title", "resolution", "aspect_ratio", "style", "shots": [{"prompt",
"duration", "seed", "image", "from_previous"}]}``. Settings every shot shares are the board's
(the aspect ratio is a text shot's alone: an image decides its shape); a shot has its prompt,
its own duration and seed, optionally its own image, or ``from_previous``: it starts from the
last frame of the video of the shot before it (``images.Frame``, the exact last decoded frame).
A file with any mistake is refused as a whole, with a sentence that names the shot and the
field (``ValidationError``), before anything is recorded or sent.

Every take of a shot is a generation like any other (in the ledger and History, with its cost);
the ledger keeps the board and, per shot, its takes and which one is chosen (``store.py``), so
a board survives a restart. A take of a chained shot remembers the take it started from: when
that is no longer the chosen take before it, the shot is *stale* (:meth:`Board.stale`).

The values here are frozen and read nothing; running is ``storyboard_run.py``, stitching
``stitch.py``, and the library's functions (``run``, ``reroll``, ``choose``, ``stitch``,
``export``) are ``storyboard.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import params as P
from .errors import ValidationError

#: The most shots one storyboard may have.
MAX_SHOTS = 20
BOARD_KEYS = ("title", "resolution", "aspect_ratio", "style", "shots")
SHOT_KEYS = ("prompt", "duration", "seed", "image", "from_previous")
#: The longest title kept.
TITLE_MAX_CHARS = 200


@dataclass(frozen=True)
class Shot:
    """One shot as the storyboard asks it: its prompt, duration and seed (None: one is picked
    and recorded), its own image (a path or an http(s) URL, as given), or ``from_previous``."""

    prompt: str
    duration: int = P.DEFAULT_DURATION
    seed: int | None = None
    image: str | None = None
    from_previous: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": self.prompt, "duration": self.duration}
        if self.seed is not None:
            out["seed"] = self.seed
        if self.image is not None:
            out["image"] = self.image
        out["from_previous"] = self.from_previous
        return out


@dataclass(frozen=True)
class Take:
    """One generation made for a shot: which take it is (from 1), the ledger's name for it
    (its client request id, written before the POST), what it was asked with, and for a
    chained shot, the client request id of the take before it that it started from."""

    shot: int
    number: int
    client_request_id: str
    prompt: str
    seed: int | None
    from_request_id: str | None = None
    chosen: bool = False


@dataclass(frozen=True)
class Storyboard:
    """A title, the settings every shot shares, and the shots in order."""

    title: str
    shots: tuple[Shot, ...]
    resolution: str = P.DEFAULT_RESOLUTION
    aspect_ratio: str = P.DEFAULT_ASPECT_RATIO
    style: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's shape (``parse`` reads it back the same)."""
        return {
            "title": self.title,
            "resolution": self.resolution,
            "aspect_ratio": self.aspect_ratio,
            "style": self.style,
            "shots": [shot.to_json() for shot in self.shots],
        }

    def params(
        self, k: int, *, prompt: str | None = None, seed: Any = None, image: Any = None
    ) -> P.Params:
        """The request of shot ``k`` (from 1): the board's settings, the shot's own, and its
        image (``image``: the previous take's last frame for a chained shot)."""
        shot = self.shots[k - 1]
        source = image if shot.from_previous else shot.image
        options: dict[str, Any] = {
            "resolution": self.resolution,
            "duration": shot.duration,
            "style": self.style,
            "seed": shot.seed if seed is None else seed,
        }
        if source is not None:
            options["image"] = source
        else:
            options["aspect_ratio"] = self.aspect_ratio
        return P.validate(prompt or shot.prompt, let_server_decide=False, **options)

    def priced(self, k: int) -> P.Params:
        """Shot ``k``'s request as priced before its image exists: a chained shot's video keeps
        the first shot's shape, so it is priced as a text shot of the board's ratio."""
        shot = self.shots[k - 1]
        if shot.from_previous:
            return self.params(k, image=None).replace(aspect_ratio=self._chain_ratio(k))
        return self.params(k)

    def _chain_ratio(self, k: int) -> str:
        """The shape a chained shot comes out in: its chain's first shot's."""
        while k > 1 and self.shots[k - 1].from_previous:
            k -= 1
        return self.params(k).frame_ratio if self.shots[k - 1].image else self.aspect_ratio

    def chained_after(self, k: int) -> tuple[int, ...]:
        """The shots after ``k`` that start, one from the other, from shot ``k``'s video."""
        out = []
        for j in range(k + 1, len(self.shots) + 1):
            if not self.shots[j - 1].from_previous:
                break
            out.append(j)
        return tuple(out)


@dataclass(frozen=True)
class Board:
    """A storyboard as the ledger keeps it: its id, owner, the storyboard, every take, and the
    stitched video when it has one."""

    id: str
    owner: str
    storyboard: Storyboard
    takes: tuple[Take, ...]
    stitched_path: str | None = None

    def takes_of(self, k: int) -> tuple[Take, ...]:
        return tuple(t for t in self.takes if t.shot == k)

    def chosen(self, k: int) -> Take | None:
        """The take shot ``k`` uses (None before it has one)."""
        return next((t for t in self.takes_of(k) if t.chosen), None)

    def stale(self, k: int) -> bool:
        """Shot ``k`` starts from the previous shot's last frame, and its chosen take was made
        from another take of that shot than the one chosen now."""
        shot = self.storyboard.shots[k - 1]
        mine, before = self.chosen(k), self.chosen(k - 1) if k > 1 else None
        if not shot.from_previous or mine is None or before is None:
            return False
        return mine.from_request_id != before.client_request_id


# --- reading a storyboard file ----------------------------------------------------------------


def load(source: Any) -> Storyboard:
    """A storyboard from a file's path, a JSON text, a dict, or a ``Storyboard``; a mistake is a
    ``ValidationError`` naming the shot and the field."""
    if isinstance(source, Storyboard):
        return source
    if isinstance(source, Mapping):
        return parse(source)
    if isinstance(source, (str, os.PathLike)):
        text, base = str(source), None
        if not text.lstrip().startswith("{"):
            path = Path(text).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                why = getattr(exc, "strerror", None) or exc
                raise ValidationError(
                    f"The storyboard file {path} cannot be read ({why}).", field="storyboard"
                ) from None
            base = path.parent
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"The storyboard is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                field="storyboard",
            ) from None
        return parse(data, base=base)
    raise ValidationError(
        f"A storyboard is a JSON file's path or a dict; got a {type(source).__name__}.",
        field="storyboard",
    )


def parse(data: Any, *, base: Path | None = None) -> Storyboard:
    """Check a whole storyboard: every key known, every shot's request valid (``params.validate``
    with the board's settings), a first shot not chained to nothing, at most ``MAX_SHOTS``.
    A relative image path is read from ``base`` (the file's folder), else from here."""
    if not isinstance(data, Mapping):
        raise ValidationError("A storyboard is a JSON object with its shots.", field="storyboard")
    _known(data, BOARD_KEYS, "The storyboard")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise ValidationError("The storyboard's title must be text.", field="title")
    title = (title or "").strip()[:TITLE_MAX_CHARS] or "Untitled storyboard"
    shots_in = data.get("shots")
    if not isinstance(shots_in, list) or not shots_in:
        raise ValidationError(
            "A storyboard needs its shots: a list of at least one shot.", field="shots"
        )
    if len(shots_in) > MAX_SHOTS:
        raise ValidationError(
            f"A storyboard has at most {MAX_SHOTS} shots; this one has {len(shots_in)}.",
            field="shots",
        )
    try:
        first = P.validate(
            "x",
            resolution=data.get("resolution"),
            aspect_ratio=data.get("aspect_ratio"),
            style=data.get("style"),
        )
    except ValidationError as exc:
        raise ValidationError(
            f"The storyboard's {exc.message[0].lower()}{exc.message[1:]}", field=exc.field
        ) from None
    board = Storyboard(
        title=title,
        shots=tuple(_shot(k, raw, base) for k, raw in enumerate(shots_in, 1)),
        resolution=first.resolution,
        aspect_ratio=first.aspect_ratio or P.DEFAULT_ASPECT_RATIO,
        style=first.style,
    )
    for k, shot in enumerate(board.shots, 1):
        try:
            board.priced(k) if shot.from_previous else board.params(k)
        except ValidationError as exc:
            raise _in_shot(k, exc) from None
    return board


def _shot(k: int, raw: Any, base: Path | None) -> Shot:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"Shot {k} must be an object with its prompt.", field=f"shots[{k}]")
    _known(raw, SHOT_KEYS, f"Shot {k}", prefix=f"shots[{k}].")
    chained = raw.get("from_previous", False)
    if not isinstance(chained, bool):
        raise ValidationError(
            f"Shot {k}'s from_previous must be true or false; got {P.shown(chained)}.",
            field=f"shots[{k}].from_previous",
        )
    image = raw.get("image")
    if chained and k == 1:
        raise ValidationError(
            "Shot 1 starts from the previous shot's last frame, but there is no shot before it: "
            "set its from_previous to false.",
            field="shots[1].from_previous",
        )
    if chained and image is not None:
        raise ValidationError(
            f"Shot {k} has an image and starts from the previous shot's last frame: give one.",
            field=f"shots[{k}].image",
        )
    if image is not None:
        if not isinstance(image, str) or not image.strip():
            raise ValidationError(
                f"Shot {k}'s image must be a file's path or an http(s) URL.",
                field=f"shots[{k}].image",
            )
        image = image.strip()
        if "://" not in image and not image.startswith("data:"):
            path = Path(image).expanduser()
            image = str((base / path) if base is not None and not path.is_absolute() else path)
    try:
        checked = P.validate(raw.get("prompt"), duration=raw.get("duration"), seed=raw.get("seed"))
    except ValidationError as exc:
        raise _in_shot(k, exc) from None
    return Shot(checked.prompt, checked.duration, checked.seed, image, chained)


def _in_shot(k: int, exc: ValidationError) -> ValidationError:
    field = exc.field or "shot"
    return ValidationError(f"Shot {k}, {field}: {exc.message}", field=f"shots[{k}].{field}")


def _known(data: Mapping[str, Any], keys: tuple[str, ...], what: str, prefix: str = "") -> None:
    unknown = sorted(str(key) for key in data if key not in keys)
    if unknown:
        raise ValidationError(
            f"{what} has an unknown key {P.shown(unknown[0])}; it takes {', '.join(keys)}.",
            field=prefix + unknown[0],
        )


def with_prompt(board: Storyboard, k: int, prompt: str) -> Storyboard:
    """``board`` with shot ``k``'s prompt changed (checked)."""
    checked = P.validate(prompt)
    shots = list(board.shots)
    shots[k - 1] = replace(shots[k - 1], prompt=checked.prompt)
    return replace(board, shots=tuple(shots))
