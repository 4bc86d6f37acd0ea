"""``DLLabAuthenticator``: users are logged in to the hub by their console session, so that
*Open Jupyter* needs no second password. The hub never sees a password."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler

from dllab.hub.control_plane import as_user

SESSION_COOKIE = "dllab_session"  # api.deps.SESSION_COOKIE


class ConsoleLoginHandler(BaseHandler):
    async def get(self) -> None:
        user = await self.login_user()
        if user is None:  # not logged in to the console: log in there, then come back
            self.redirect(f"/#/login?next={quote(self.request.uri or '', safe='')}")
            return
        self.redirect(self.get_next_url(user))


class DLLabAuthenticator(Authenticator):
    auto_login = True
    login_service = "DLLab"

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        return [("/login", ConsoleLoginHandler)]

    async def authenticate(self, handler: Any, data: Any = None) -> dict[str, Any] | None:
        cookie = handler.get_cookie(SESSION_COOKIE)
        if not cookie:
            return None
        # The user's own session, not the hub's token: it answers only if it is valid.
        answer = await as_user().get("/users/me",
                                     headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        if answer.status_code != 200:
            return None
        return {"name": answer.json()["username"]}
