"""Lifecycles as transition tables: one shape for every status a record moves through.

A table maps an action to the statuses it may start from and the status it leads to,
e.g. ``{"approve": (("awaiting_review",), "approved")}``. The table is data the domain
declares; ``Lifecycle.next`` is the one check every service applies, so a refused move
reads the same everywhere (422, rule ``status_transition``).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import RuleViolation


@dataclass(frozen=True)
class Lifecycle:
    what: str                                    # "a lecture report": how the message names the record
    transitions: dict[str, tuple[tuple[str, ...], str]]
    rule: str = "status_transition"

    def next(self, current: str, action: str) -> str:
        allowed_from, to = self.transitions[action]
        if current not in allowed_from:
            raise RuleViolation(
                f"cannot {action.replace('_', ' ')} {self.what} that is {current}"
                f" (only from: {', '.join(allowed_from)})",
                {"status": [f"is {current}"]}, rule=self.rule)
        return to

    def may(self, current: str, action: str) -> bool:
        return current in self.transitions[action][0]

    @property
    def statuses(self) -> set[str]:
        found = set()
        for allowed_from, to in self.transitions.values():
            found.update(allowed_from)
            found.add(to)
        return found
