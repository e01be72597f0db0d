"""What a check reports: cases tried, failures (must be 0), the worst figure, and why it failed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckResult:
    name: str
    cases: int = 0
    failures: int = 0
    worst: str = ""  # the worst figure seen, with its unit and what it measures
    problems: list[str] = field(default_factory=list)  # the first few failures, in words

    MAX_PROBLEMS = 10

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.cases > 0

    def fail(self, problem: str) -> None:
        """Count one failure; keep its description if it is among the first few."""
        self.failures += 1
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append(problem)

    def line(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name:<22} cases={self.cases:<7} failures={self.failures:<5} worst: {self.worst}  [{verdict}]"

    def details(self) -> str:
        return "\n".join(f"    - {problem}" for problem in self.problems)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank); 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary_table(results: list[CheckResult]) -> str:
    """A Markdown table for docs/security.md: check, cases, failures, worst figure."""
    lines = ["| check | cases | failures | worst figure |", "|---|---:|---:|---|"]
    lines += [f"| {r.name} | {r.cases} | {r.failures} | {r.worst} |" for r in results]
    return "\n".join(lines)
