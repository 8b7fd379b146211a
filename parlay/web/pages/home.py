"""The web tool's home: links to the pages the signed-in role may open."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from parlay.web.auth import Viewer, signed_in
from parlay.web.templating import render

router = APIRouter()


@router.get("/", name="web_home")
async def home(request: Request, _: Annotated[Viewer, Depends(signed_in)]) -> Response:
    return render(request, "home.html")
