"""Sampling options shared by the TUI settings panel, the CLI and stored messages."""

from dataclasses import asdict, dataclass, fields
from typing import Any

from tuiapp.errors import BadInput


@dataclass
class SamplingParams:
    temperature: float = 0.7  # 0 means greedy
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int | None = None  # None: a fresh random seed per reply

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SamplingParams":
        known = {f.name for f in fields(cls)}
        params = cls(**{k: v for k, v in data.items() if k in known})
        params.validate()
        return params

    def validate(self) -> None:
        checks = [
            (self.temperature >= 0, "temperature must be ≥ 0"),
            (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
            (self.top_k >= 0, "top_k must be ≥ 0 (0 disables it)"),
            (0 <= self.min_p < 1, "min_p must be in [0, 1)"),
            (self.repeat_penalty > 0, "repeat_penalty must be > 0"),
            (self.max_tokens >= 1, "max_tokens must be ≥ 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise BadInput(f"Bad sampling option: {message}.")
