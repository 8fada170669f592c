"""A loopback fake of the Azure Cost Management Query API (POST {scope}/providers/Microsoft.CostManagement/query)
answering the documented shape: properties.columns / rows / nextLink (with a $skiptoken)."""

from __future__ import annotations

from typing import Any

from tests.economist.fakes.http import Request, Response

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"


class CostQueryFake:
    """pages[cost_type] is a list of pages (each a list of rows); page N>1 is reached via nextLink."""

    def __init__(self, columns: list[dict[str, str]], pages: dict[str, list[list[list[Any]]]]) -> None:
        self.columns = columns
        self.pages = pages
        self.base_url = ""
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        if request.method != "POST" or not request.path.endswith(QUERY_SUFFIX):
            return Response(404, {"error": {"code": "NotFound", "message": request.path}})
        if request.headers.get("authorization") != "Bearer fake-token":
            return Response(401, {"error": {"code": "AuthenticationFailed", "message": "no token"}})
        if not request.query.get("api-version"):
            return Response(400, {"error": {"code": "MissingApiVersionParameter", "message": "api-version"}})
        body = request.json()
        self.bodies.append(body)
        pages = self.pages[body["type"]]
        token = request.query.get("$skiptoken", ["0"])[0]
        index = int(token)
        properties: dict[str, Any] = {"columns": self.columns, "rows": pages[index]}
        if index + 1 < len(pages):
            properties["nextLink"] = (
                f"{self.base_url}{request.path}?api-version={request.query['api-version'][0]}"
                f"&$skiptoken={index + 1}"
            )
        return Response(
            200,
            # numbers are written raw so the client sees exactly these digits
            _raw_json(
                {
                    "id": f"{request.path}/query-result",
                    "name": "query-result",
                    "type": "Microsoft.CostManagement/query",
                    "properties": properties,
                }
            ),
        )


class RawNumber(str):
    """A number the fake writes verbatim into JSON (to send more digits than a float holds)."""


def _raw_json(value: Any) -> str:
    import json

    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_raw_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_raw_json(v) for v in value) + "]"
    return json.dumps(value)
