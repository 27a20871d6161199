"""Evaluation: the figures a citizen participation network reports, from the hub's own data.

* :mod:`.figures` - a period's figures from the ledger and the tips (:func:`build`, :class:`Selection`);
* :mod:`.report_tables` - the tables of a report; :mod:`.tables` - the table type, and the one rule
  that prints small counts of people as "< 5";
* :mod:`.where` - which municipality an action or a participant's home is counted with;
* :mod:`.charts` - charts and maps as SVG; :mod:`.html` - the self-contained HTML report;
* :mod:`.texts` - the words of tables, charts and the report in Dutch (the default) and English.

The store keeps each settled action's delivery figures (:mod:`hub.store.evaluation`, kept every minute
by :mod:`.keeper`); everything else is counted when a report is drawn (how often each participant was
reached: :mod:`hub.store.reach`).
"""

from .figures import ParticipantCells, Report, Selection, build

__all__ = ["ParticipantCells", "Report", "Selection", "build"]
