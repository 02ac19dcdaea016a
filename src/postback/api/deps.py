"""Request dependencies: the service, and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from postback.service.usecases import Principal, Service

bearer = HTTPBearer(auto_error=False, description="an account's API key, or the operator's")


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(401, "send Authorization: Bearer <API key>")
    who = await get_service(request).authenticate(credentials.credentials)
    if who is None:
        raise HTTPException(401, "unknown API key")
    return who


def require_operator(who: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not who.is_operator:
        raise HTTPException(403, "only the operator's key can do this")
    return who


ServiceDep = Annotated[Service, Depends(get_service)]
Who = Annotated[Principal, Depends(get_principal)]
Operator = Annotated[Principal, Depends(require_operator)]
