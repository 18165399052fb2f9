"""Who may do what: admins (/retrain, /promote, /rollback, report buttons) and reviewers (approve pairs).

Checked on the server for every command, button and modal submission; a refusal is audited.
Reviewers are the configured user IDs, the admins, and the members of `slack.reviewer_group`
(usergroups.users.list, cached for `slack.cache_s` seconds).
"""
from __future__ import annotations

import threading
import time

from slack_sdk.errors import SlackApiError

from uchi.bot.errors import Refused
from uchi.config import SlackConfig
from uchi.data import audit
from uchi.data.store import Store
from uchi.errors import UchiError


class Roles:
    def __init__(self, cfg: SlackConfig):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._group: tuple[frozenset[str], float] = (frozenset(), 0.0)

    def is_admin(self, user: str) -> bool:
        return user in self.cfg.admins

    def is_reviewer(self, client, user: str) -> bool:
        return self.is_admin(user) or user in self.cfg.reviewers or user in self.group_members(client)

    def group_members(self, client) -> frozenset[str]:
        group = self.cfg.reviewer_group
        if not group:
            return frozenset()
        with self._lock:
            members, expires = self._group
            if expires > time.monotonic():
                return members
            try:
                members = frozenset(client.usergroups_users_list(usergroup=group)["users"])
            except SlackApiError as exc:
                raise UchiError(f"could not read the reviewer group {group} ({exc.response.get('error')}); check "
                                "slack.reviewer_group and that the app has the usergroups:read scope") from None
            self._group = (members, time.monotonic() + self.cfg.cache_s)
            return members

    def require(self, client, store: Store, user: str, role: str, action: str, target: str = "") -> None:
        """Raise Refused (and audit the attempt) unless `user` holds `role`."""
        allowed = self.is_admin(user) if role == "admin" else self.is_reviewer(client, user)
        if not allowed:
            audit.record(store, user, action, target, "refused", f"needs the {role} role")
            raise Refused(role, action)
