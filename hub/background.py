"""A loop of the hub's own that runs beside it: started with the hub, cancelled and awaited when it
stops (the expiry and retention sweeps, the figure keeper)."""

from __future__ import annotations

import asyncio


class BackgroundLoop:
    """Subclasses name the task (:attr:`task_name`) and write :meth:`_run`."""

    task_name = "burgerhub-background"
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError
