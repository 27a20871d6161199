"""OASIS CAP 1.2 (Common Alerting Protocol) in and out.

* :mod:`hub.cap.xml`: safe parsing and validation against the official XML Schema;
* :mod:`hub.cap.inbound`: an ``<alert>`` mapped onto starting, updating or ending an action;
* :mod:`hub.cap.outbound`: an action as a chain of CAP messages (Alert, Update, Cancel);
* :mod:`hub.cap.service`: both, for a hub (``hub.cap``).
"""

from .service import CapService

__all__ = ["CapService"]
