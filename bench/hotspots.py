"""Summarise py-spy collapsed stacks: where the samples are (`python -m bench.hotspots FILE...`).

For each file: the frames with the most samples anywhere on the stack (inclusive) and at the
top of the stack (self), restricted to code of this repository and the libraries it calls.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int = 25) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    lines = [f"== {path.name}: {total} samples"]
    if not total:
        return "\n".join(lines)
    lines.append("-- inclusive")
    for frame, n in inclusive.most_common(top):
        lines.append(f"{100 * n / total:5.1f}%  {frame}")
    lines.append("-- self")
    for frame, n in own.most_common(top):
        lines.append(f"{100 * n / total:5.1f}%  {frame}")
    return "\n".join(lines)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarise(Path(arg), int(__import__("os").environ.get("TOP", "25"))))
