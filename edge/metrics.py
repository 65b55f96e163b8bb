"""Counters and histograms rendered as Prometheus text, bounded in size."""

from __future__ import annotations

__all__ = ["Histogram", "Metrics"]

from collections import Counter
from dataclasses import dataclass, field

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        for i, b in enumerate(_BUCKETS):
            if seconds <= b:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += seconds
        self.n += 1

    def render(self, name: str, labels: str) -> list[str]:
        out, acc = [], 0
        sep = "," if labels else ""
        for b, c in zip(_BUCKETS, self.counts, strict=False):
            acc += c
            out.append(f'{name}_bucket{{{labels}{sep}le="{b}"}} {acc}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        out.append(f"{name}_sum{{{labels}}} {self.total:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.n}")
        return out


class Metrics:
    """Process-local metrics. Label sets are fixed small enums, so this stays bounded."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, float] = {}
        self.histograms: dict[tuple[str, str], Histogram] = {}

    def inc(self, name: str, value: int = 1) -> None:
        self.counters[name] += value

    def observe(self, name: str, labels: str, seconds: float) -> None:
        self.histograms.setdefault((name, labels), Histogram()).observe(seconds)

    def render(self, extra_gauges: dict[str, float] | None = None) -> str:
        lines: list[str] = []
        for key, value in sorted(self.counters.items()):
            lines.append(f"parley_{key} {value}")
        for key, g in sorted({**self.gauges, **(extra_gauges or {})}.items()):
            lines.append(f"parley_{key} {g}")
        for (name, labels), h in sorted(self.histograms.items()):
            lines.extend(h.render(f"parley_{name}", labels))
        return "\n".join(lines) + "\n"
