"""Summarise a ``py-spy record --format raw`` profile: where the CPU of our code goes.

``python bench/profile_top.py PROFILE [--top N]`` prints three lists:

* **inclusive** - share of samples with the function anywhere on the stack (src functions only);
* **src frame nearest the leaf** - each sample charged to the deepest ``omnichannel`` frame, i.e.
  the line of our code that asked for the work (a SQLAlchemy compile, a pydantic validation…);
* **self** - the leaf frames themselves, any library.

``bench/ingest.py --py-spy PATH`` writes such profiles (one per process and phase).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SRC = "omnichannel/"


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def short(frame: str, *, with_line: bool = True) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in (SRC, "site-packages/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            file = (SRC + file) if marker == SRC else file
            break
    line = f":{match['line']}" if with_line and match["line"] else ""
    return f"{match['func']} ({file}{line})"


def report(path: Path, top: int) -> None:
    stacks = parse(path)
    total = sum(n for _, n in stacks) or 1
    inclusive: Counter[str] = Counter()
    nearest: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for frames, n in stacks:
        ours = [f for f in frames if SRC in f]
        for name in {short(f, with_line=False) for f in ours}:
            inclusive[name] += n
        if ours:
            nearest[short(ours[-1])] += n
        leaf[short(frames[-1], with_line=False)] += n
    print(f"{path}: {total} samples")
    for title, counter in (
        ("inclusive (src functions)", inclusive),
        ("src frame nearest the leaf", nearest),
        ("self (leaf frames)", leaf),
    ):
        print(f"\n== {title}")
        for name, n in counter.most_common(top):
            print(f"{100 * n / total:6.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profiles:
        report(path, args.top)


if __name__ == "__main__":
    main()
