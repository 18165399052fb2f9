"""Data: what the store holds by language, category and author, over time; and export (data/export.py)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from uchi.console import web
from uchi.data import export

FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def data_page(request: Request) -> Response:
    with web.store(request) as store:
        tables = {column: export.distribution(store, column) for column in ("language", "category", "author")}
        over = request.query_params.get("over", "language")
        over = over if over in tables else "language"
        months = export.by_month(store, over)
    # The 12 largest values as columns; a month's row shows how each grew.
    columns = [row["value"] for row in tables[over][:12]]
    grid: dict[str, dict[str, int]] = {}
    for row in months:
        grid.setdefault(row["month"], {})[row["value"]] = row["n"]
    return web.render(request, "data.html", tables=tables, months=grid, columns=columns, over=over,
                      most=max([r["total"] for t in tables.values() for r in t] or [1]))


def download(request: Request) -> Response:
    """Pending pairs are not yet reviewed: exporting is for reviewers."""
    if not web.user(request).reviewer:
        return web.refuse(request, "reviewer", "web:export")
    fmt = request.query_params.get("format", "jsonl")
    fmt = fmt if fmt in FORMATS else "jsonl"
    status = request.query_params.get("status") or None
    status = status if status in ("pending", "approved", "rejected") else None
    with web.store(request) as store:
        body = export.render(export.export_rows(store, status=status), fmt)
    name = f"uchi-pairs-{status or 'all'}.{fmt}"
    return Response(body, media_type=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{name}"'})


routes = [Route("/data", data_page), Route("/data/export", download)]
