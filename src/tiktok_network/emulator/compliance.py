"""Batch compliance (research-api.md 11): which of up to 10,000 video ids are still valid.

A task is created with the ids, reports ``processing`` for ``--compliance-polls`` status calls
and then ``completed``, and its download lists the ids still valid: those the video table
serves and that were not deleted. ``POST /_emulator/delete_videos`` (``{"ids": [...]}``)
deletes videos as their authors would: gone from the query, the liked, reposted and pinned
lists, and invalid in every later task. The bodies and answers are the guess ``spec`` keeps.
Each step counts in the general bucket, and is logged as ``compliance-create``, ``-status`` or
``-download``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from aiohttp import web

from tiktok_network.api import spec


class ComplianceRoutes:
    """Part of ``Emulator`` (``server.py``): the validation tasks and video deletion."""

    settings: Any
    # Made by ``Emulator.__init__``: task id -> (ids asked, status calls so far); deleted ids.
    _validation_tasks: dict[str, list[Any]]
    deleted_videos: set[int]

    def live_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` of the video table without the deleted videos."""
        if not self.deleted_videos or not len(rows):
            return rows
        ids = self.videos.ids[rows]  # type: ignore[attr-defined]
        return rows[~np.isin(ids, np.fromiter(self.deleted_videos, dtype=np.int64))]

    async def compliance_create(self, request: web.Request) -> web.Response:
        gated = await self._gate(request, "compliance-create")  # type: ignore[attr-defined]
        if not isinstance(gated, tuple):
            return gated  # type: ignore[no-any-return]
        client, charged, body = gated
        ids = body.get("ids")
        if (
            body.get("type", "video") != "video"
            or not isinstance(ids, list)
            or not 1 <= len(ids) <= spec.COMPLIANCE_MAX_IDS
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            why = f"ids must be a list of 1 to {spec.COMPLIANCE_MAX_IDS:,} video ids."
            return self._invalid(client, charged, "compliance-create", None, why)  # type: ignore[attr-defined, no-any-return]
        task = hashlib.sha256(f"{len(self._validation_tasks)}:{ids[:3]}".encode()).hexdigest()[:20]
        self._validation_tasks[task] = [list(ids), 0]
        return self._answer(client, "create", {"task_id": task})

    async def compliance_status(self, request: web.Request) -> web.Response:
        found = await self._task_of(request, "status", done=False)
        if isinstance(found, web.Response):
            return found
        client, task = found
        task[1] += 1
        done = task[1] > self.settings.compliance_polls
        status = spec.COMPLIANCE_DONE if done else "processing"
        return self._answer(client, "status", {"status": status})

    async def compliance_download(self, request: web.Request) -> web.Response:
        found = await self._task_of(request, "download", done=True)
        if isinstance(found, web.Response):
            return found
        client, task = found
        served = set(self.videos.ids.tolist())  # type: ignore[attr-defined]
        valid = [i for i in task[0] if i in served and i not in self.deleted_videos]
        return self._answer(client, "download", {"valid_ids": valid})

    async def _task_of(
        self, request: web.Request, step: str, *, done: bool
    ) -> tuple[str, list[Any]] | web.Response:
        """The client and the task a status or download call names (``done``: the task must
        be completed), or the answer refusing it."""
        gated = await self._gate(request, f"compliance-{step}")  # type: ignore[attr-defined]
        if not isinstance(gated, tuple):
            return gated  # type: ignore[no-any-return]
        client, charged, body = gated
        task = self._validation_tasks.get(str(body.get("task_id")))
        if task is None or (done and task[1] <= self.settings.compliance_polls):
            why = "task_id is invalid" + (" or the task is not completed." if done else ".")
            return self._invalid(client, charged, f"compliance-{step}", None, why)  # type: ignore[attr-defined, no-any-return]
        return client, task

    def _answer(self, client: str, step: str, data: dict[str, Any]) -> web.Response:
        reply = self._envelope(200, "ok", "", data)  # type: ignore[attr-defined]
        return self._log_reply(client, f"compliance-{step}", None, None, reply)  # type: ignore[attr-defined, no-any-return]

    async def delete_videos(self, request: web.Request) -> web.Response:
        """Control: the videos ``ids`` are deleted from now on."""
        body = await request.json()
        self.deleted_videos.update(int(i) for i in body.get("ids", []))
        return web.json_response({"deleted": len(self.deleted_videos)})
