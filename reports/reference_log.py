"""Parser of the reference's training logs (RolandGao/RegSeg ``training_log/*.txt``).

Format (written by the reference's ``train.py``, append mode):

- a Python dict literal: the run's full config (``ast.literal_eval``, never ``eval``),
- ``run: N``,
- per epoch: ``epoch: N`` (written *before* training the epoch), ``loss: X`` (after it) and, on
  evaluated epochs only, ``IOU: [per-class percentages]`` and
  ``mIOU: A, mIOU_reduced: B, accuracy: C``,
- per run: ``Best mIOU: X``, ``Best global accuracy: X``, ``Training time H:MM:SS``,
- once per multi-run invocation, at the end: ``mIOUs: [...]`` and ``global_accuracies: [...]``.

A resumed run writes no new header: it repeats the ``epoch: N`` line of the epoch it crashed in
(the first copy has no ``loss``, or no IoU when it crashed while evaluating). One record per epoch
is kept: the last complete one. A file is parsed completely before anything is returned; any
departure from the grammar raises :class:`reports.errors.LogFormatError` naming ``file:line``.

All IoU-like numbers are percentages (0-100), as in the logs. The logged ``mIOU_reduced`` is
wrong (the reference excluded only class 16); :meth:`EpochRecord.miou_reduced` recomputes it.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from regseg.data.labels import REDUCED_EXCLUDE
from reports.errors import LogFormatError

_NAN_TOKEN = re.compile(r"\bnan\b")
_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"


@dataclass
class EpochRecord:
    """One epoch of one run. ``iou`` is None on epochs that were not evaluated."""

    epoch: int
    line: int
    loss: float | None = None
    iou: tuple[float, ...] | None = None
    miou: float | None = None
    accuracy: float | None = None
    iou_line: int = 0

    def miou_reduced(self, exclude: tuple[int, ...] = REDUCED_EXCLUDE) -> float | None:
        """Mean IoU over the classes not in ``exclude`` (percent), from the per-class IoU."""
        if self.iou is None:
            return None
        kept = [v for i, v in enumerate(self.iou) if i not in exclude]
        return sum(kept) / len(kept)


@dataclass
class ReferenceRun:
    """One run of a reference log: its header config, epochs (by number) and summary lines."""

    path: Path
    run: int
    header: dict[str, Any]
    first_line: int
    epochs: dict[int, EpochRecord] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """sha256 of the run number and the run's own lines (its header included): content only.

        Identifies the run for idempotent re-imports: a moved or renamed copy of a file is
        recognised, and appending runs to a file keeps the digests of the earlier runs.
        """
        h = hashlib.sha256(f"run {self.run}\0".encode())
        h.update("\n".join(self.text).encode())
        return h.hexdigest()

    @property
    def evaluated(self) -> list[EpochRecord]:
        return [self.epochs[k] for k in sorted(self.epochs) if self.epochs[k].iou is not None]


class _Parser:
    """Line-driven state machine; one handler per line kind (the ``_RULES`` table)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runs: list[ReferenceRun] = []
        self.header: dict[str, Any] | None = None
        self.header_line = 0
        self.run: ReferenceRun | None = None
        self.epoch: EpochRecord | None = None
        self.finished = True  # no run open
        self.lineno = 0

    # ---------------------------------------------------------------- helpers
    def fail(self, msg: str) -> LogFormatError:
        return LogFormatError(f"{self.path}:{self.lineno}: {msg}")

    def need_run(self, what: str) -> ReferenceRun:
        if self.run is None or self.finished:
            raise self.fail(f"{what} outside a run (expected a header dict and 'run: N' first)")
        return self.run

    def literal(self, text: str, what: str) -> Any:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise self.fail(f"{what}: not a Python literal ({type(exc).__name__})") from None

    def close_epoch(self) -> None:
        ep, self.epoch = self.epoch, None
        if ep is None:
            return
        if ep.iou is not None and ep.miou is None:
            raise LogFormatError(f"{self.path}:{ep.iou_line}: epoch {ep.epoch}: 'IOU' line without "
                                 f"the 'mIOU: ..., accuracy: ...' line after it")
        if ep.loss is not None:  # an epoch cut short by a crash has no loss: dropped
            self.run.epochs[ep.epoch] = ep  # a later (resumed) copy replaces an earlier one

    # ---------------------------------------------------------------- handlers
    def on_header(self, m: re.Match) -> None:
        if not self.finished:
            raise self.fail(f"new header before run {self.run.run} ended (truncated run: "
                            f"no 'Training time' line)")
        value = self.literal(m.group(0), "header")
        if not isinstance(value, dict):
            raise self.fail(f"header: expected a dict literal, got {type(value).__name__}")
        self.header, self.header_line, self.run = value, self.lineno, None

    def on_run(self, m: re.Match) -> None:
        if self.header is None or self.run is not None:
            raise self.fail("'run: N' line not directly after a header dict")
        self.run = ReferenceRun(self.path, int(m.group(1)), self.header, self.header_line)
        self.run.text.append(repr(sorted(self.header.items())))
        self.runs.append(self.run)
        self.finished = False

    def on_epoch(self, m: re.Match) -> None:
        run = self.need_run("'epoch' line")
        n = int(m.group(1))
        prev = self.epoch.epoch if self.epoch else max(run.epochs, default=-1)
        self.close_epoch()
        if n > prev + 1:
            raise self.fail(f"epoch {n} after epoch {prev}: expected at most {prev + 1} "
                            f"(missing lines?)")
        limit = self.header.get("epochs")
        if isinstance(limit, int) and n >= limit:
            raise self.fail(f"epoch {n}: expected < epochs={limit} from the header")
        self.epoch = EpochRecord(n, self.lineno)

    def on_loss(self, m: re.Match) -> None:
        self.need_run("'loss' line")
        if self.epoch is None or self.epoch.loss is not None:
            raise self.fail("'loss' line without its 'epoch: N' line")
        self.epoch.loss = float(m.group(1))

    def on_iou(self, m: re.Match) -> None:
        self.need_run("'IOU' line")
        if self.epoch is None or self.epoch.loss is None or self.epoch.iou is not None:
            raise self.fail("'IOU' line not after an epoch's 'loss' line")
        # a class absent from both prediction and label prints as nan (0/0)
        values = self.literal(_NAN_TOKEN.sub("None", m.group(1)), "IOU")
        n = self.header.get("num_classes", 19)
        if isinstance(values, list):
            values = [math.nan if v is None else v for v in values]
        if (not isinstance(values, list) or len(values) != n
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           for v in values)):
            raise self.fail(f"IOU: expected a list of {n} numbers, got {m.group(1)[:60]!r}")
        if not all(0.0 <= v <= 100.0 or math.isnan(v) for v in values):
            raise self.fail("IOU: expected percentages in [0, 100]")
        self.epoch.iou = tuple(float(v) for v in values)
        self.epoch.iou_line = self.lineno

    def on_miou(self, m: re.Match) -> None:
        self.need_run("'mIOU' line")
        if self.epoch is None or self.epoch.iou is None or self.epoch.miou is not None:
            raise self.fail("'mIOU' line not directly after an 'IOU' line")
        self.epoch.miou, self.epoch.accuracy = float(m.group(1)), float(m.group(3))

    def on_best_miou(self, m: re.Match) -> None:
        run = self.need_run("'Best mIOU' line")
        self.close_epoch()
        if "best_miou" in run.summary:
            raise self.fail("second 'Best mIOU' line in one run")
        run.summary["best_miou"] = float(m.group(1))

    def on_best_acc(self, m: re.Match) -> None:
        run = self.need_run("'Best global accuracy' line")
        if "best_miou" not in run.summary:
            raise self.fail("'Best global accuracy' line before 'Best mIOU'")
        run.summary["best_accuracy"] = float(m.group(1))

    def on_time(self, m: re.Match) -> None:
        run = self.need_run("'Training time' line")
        if "best_accuracy" not in run.summary:
            raise self.fail("'Training time' line before 'Best global accuracy'")
        run.summary["training_time"] = m.group(1)
        self.finished = True

    def on_multi(self, m: re.Match) -> None:
        if not self.finished or not self.runs:
            raise self.fail(f"'{m.group(1)}' line before the runs ended")
        values = self.literal(m.group(2), m.group(1))
        if not isinstance(values, list):
            raise self.fail(f"{m.group(1)}: expected a list")

    # ---------------------------------------------------------------- driver
    def feed(self, line: str) -> None:
        for pattern, handler in _RULES:
            m = pattern.fullmatch(line)
            if m:
                if not self.finished:  # the digest covers the run's own lines only
                    self.run.text.append(line)
                handler(self, m)
                return
        raise self.fail(f"unrecognised line {line[:60]!r}")

    def finish(self) -> list[ReferenceRun]:
        if not self.runs:
            raise self.fail("no run found (expected a header dict and 'run: N')")
        if not self.finished:
            raise self.fail(f"file ends inside run {self.run.run} (truncated: expected "
                            f"'Best mIOU', 'Best global accuracy' and 'Training time' lines)")
        return self.runs


_RULES: tuple[tuple[re.Pattern, Callable[[_Parser, re.Match], None]], ...] = (
    (re.compile(r"\{.*\}"), _Parser.on_header),
    (re.compile(r"run: (\d+)"), _Parser.on_run),
    (re.compile(r"epoch: (\d+)"), _Parser.on_epoch),
    (re.compile(rf"loss: {_NUM}"), _Parser.on_loss),
    (re.compile(r"IOU: (\[.*\])"), _Parser.on_iou),
    (re.compile(rf"mIOU: {_NUM}, mIOU_reduced: {_NUM}, accuracy: {_NUM}"), _Parser.on_miou),
    (re.compile(rf"Best mIOU: {_NUM}"), _Parser.on_best_miou),
    (re.compile(rf"Best global accuracy: {_NUM}"), _Parser.on_best_acc),
    (re.compile(r"Training time (\S.*)"), _Parser.on_time),
    (re.compile(r"(mIOUs|global_accuracies): (\[.*\])"), _Parser.on_multi),
)


def parse_log(path: str | Path) -> list[ReferenceRun]:
    """Parse one reference training log completely; raise LogFormatError on any defect."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogFormatError(f"{p}:0: cannot read the file ({exc})") from None
    parser = _Parser(p)
    for parser.lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line:
            parser.feed(line)
    if parser.lineno == 0:
        raise LogFormatError(f"{p}:0: empty file")
    return parser.finish()
