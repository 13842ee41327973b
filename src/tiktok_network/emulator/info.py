"""The user-info endpoint: only the requested fields, counts taken from the graph."""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from tiktok_network.api import spec
from tiktok_network.emulator import hostile
from tiktok_network.emulator.faults import seeded_unit
from tiktok_network.emulator.names import display_name_for
from tiktok_network.emulator.state import EmulatorState


class InfoRoutes(EmulatorState):
    """Part of ``Emulator`` (``server.py``): the handlers and helpers of one concern."""

    async def info(self, request: web.Request) -> web.Response:
        gated = await self._gate(request, "info")
        if isinstance(gated, web.Response):
            return gated
        client, charged, body = gated
        fields_param = request.query.get("fields", "")
        fields = [f.strip() for f in fields_param.split(",") if f.strip()]
        unknown = [f for f in fields if f not in spec.INFO_FIELDS]
        username = body.get("username")
        if not fields or unknown:
            why = f"Invalid fields: {','.join(unknown)}" if unknown else "fields is required."
            return self._invalid(client, charged, "info", None, why)
        if "open_id" in body and "username" in body:
            return self._invalid(
                client, charged, "info", None, "Only one of username and open_id may be given."
            )
        if "open_id" in body:
            username = self._username_of_open_id(body.get("open_id"))
        if not isinstance(username, str) or not username:
            return self._invalid(client, charged, "info", None, "username is required.")
        node, refusal = self._lookup(username)
        if refusal is not None:
            return self._fail(
                client, charged, "info", username, None, self._error(refusal, username)
            )
        profile = self.profile(node)  # type: ignore[arg-type]
        if self.settings.hostile_text and self.hostile[node]:
            profile = hostile.profile(node, username, profile)  # type: ignore[arg-type]
        data = {f: profile[f] for f in fields}
        reply = self._envelope(200, "ok", "", data)
        if self.settings.hostile_text and self.hostile[node]:
            reply.body = hostile.unmark(reply.body)  # type: ignore[arg-type]
        return self._log_reply(client, "info", username, None, reply, items=1)

    def _open_id(self, node: int) -> str:
        return hashlib.blake2b(f"{self.settings.seed}:{node}".encode(), digest_size=16).hexdigest()

    def _username_of_open_id(self, open_id: Any) -> str | None:
        if not isinstance(open_id, str):
            return None
        for node in range(self.graph.n_users):  # rare path; a dict would cost memory at scale
            if self._open_id(node) == open_id:
                return self.graph.usernames[node]
        return None

    def profile(self, node: int) -> dict[str, Any]:
        """Every user-info field of one account; the two counts agree with the graph."""

        name = self.graph.usernames[node]
        evolving = self.evolution.rates.active
        followers = (
            self.evolution.degree("followers", node)
            if evolving
            else self.graph.followers.degree(node)
        )
        following = (
            self.evolution.degree("following", node)
            if evolving
            else self.graph.following.degree(node)
        )
        h = int(seeded_unit(self.settings.seed, "profile", node) * 2**32)
        return {
            "display_name": display_name_for(node, name),
            "bio_description": f"bio of {name}, line one\nline two",
            "avatar_url": f"https://p16-sign.tiktokcdn.example/avatar/{name}.jpeg",
            "is_verified": followers >= 1000,
            "follower_count": self._drifted(node, "followers", followers),
            "following_count": self._drifted(node, "following", following),
            "likes_count": followers * (h % 200) + h % 1000,
            "video_count": h % 500,
            "open_id": self._open_id(node),
            "is_private": bool(self.private[node] or self.evolution.turned_private[node]),
            "bio_url": f"https://linktr.example/{name}" if h % 3 == 0 else "",
        }

    def _drifted(self, node: int, which: str, count: int) -> int:
        """A profile count as the service reports it: with ``--count-drift P``, off the list's
        true length by a seeded share in [-P, P] (profile counts and lists disagree)."""
        drift = self.settings.count_drift
        if not drift:
            return count
        share = (2 * seeded_unit(self.settings.seed, "drift", which, node) - 1) * drift
        return max(0, round(count * (1 + share)))
