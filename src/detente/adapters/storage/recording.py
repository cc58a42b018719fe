"""What the row mixins of ``Tx`` (notices, monitoring, incidents) need of it: the session and ``record``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy.orm import Session


class Recording(Protocol):
    """A transaction that records an audit entry for each change (see ``Tx.record``)."""

    session: Session
    dialect: str

    def record(
        self,
        type: str,
        subject: str,
        audience: Iterable[str],
        *,
        data: dict[str, Any] | None = None,
        deleted: bool = False,
    ) -> None: ...
