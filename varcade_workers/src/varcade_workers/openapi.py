"""OpenAPI 3.1 documents of the arcade's HTTP APIs: the parts they share, and the house rules.

Each service builds its own document (``<service>/openapi.py``) and serves it at
``GET /openapi.json``; what several services do alike is described here, once:

- the JSON error body ``{"message": ...}`` (:data:`ERROR_SCHEMA`, every 4xx and 5xx of
  :func:`varcade_workers.web.init_flask_app` and of the game server), :func:`error`;
- what :func:`varcade_workers.web.init_flask_app` adds to a Flask service: ``GET /healthz``,
  ``GET /metrics`` (:func:`flask_plumbing_paths`) and the 503 of any route while Redis is
  unreachable (:func:`storage_unavailable`);
- what gunicorn itself answers, as JSON, to a request line or headers over its limits
  (:func:`gunicorn_limits`);
- ``GET /openapi.json`` (:func:`openapi_path`), the bearer security scheme (:func:`bearer_scheme`)
  and the ``Retry-After`` header of a 429 (:data:`RETRY_AFTER`).

The house rules (:func:`problems`, which each service's tests apply to its document): every
operation has an ``operationId``, concrete status codes only (no ``default``, no ``4XX``), a
``description`` for each, a body for each (except 204 and 304), a JSON body with ``required``
fields for every 4xx and 5xx; a secured operation lists its 401; every path template variable is a
required path parameter; every schema that lists ``properties`` says which are ``required``.
:func:`operations` and :func:`flask_routes` give the (path, method) pairs a document lists and a
Flask app registers, so a test can check that they are the same.

Plain data only: no Flask, no aiohttp, no validator (the tests validate documents with
``openapi-spec-validator``; :func:`conformance`, for tests, imports ``jsonschema`` when called).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

__all__ = [
    "ERROR_REF",
    "ERROR_SCHEMA",
    "OPENAPI_VERSION",
    "RETRY_AFTER",
    "bearer_scheme",
    "conformance",
    "document",
    "error",
    "flask_plumbing_paths",
    "flask_routes",
    "gunicorn_limits",
    "json_body",
    "openapi_path",
    "operation",
    "operations",
    "path_parameter",
    "problems",
    "query_parameter",
    "response",
    "storage_unavailable",
]

Json = dict[str, Any]

OPENAPI_VERSION: Final = "3.1.0"
METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

ERROR_SCHEMA: Final[Json] = {
    "type": "object",
    "description": "Every refusal and failure of the arcade's HTTP APIs.",
    "required": ["message"],
    "properties": {"message": {"type": "string", "description": "What was wrong, for a person."}},
}
ERROR_REF: Final[Json] = {"$ref": "#/components/schemas/Error"}

RETRY_AFTER: Final[Json] = {
    "description": "Seconds to wait before asking again.",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


# -- building blocks ------------------------------------------------------------------------------


def response(
    description: str,
    schema: Json | None = None,
    *,
    media_type: str = "application/json",
    headers: Mapping[str, Json] | None = None,
    media_types: Iterable[str] = (),
) -> Json:
    """A response object; ``schema=None`` and no ``media_types``: no body (204, 304)."""
    out: Json = {"description": description}
    if schema is not None:
        out["content"] = {media_type: {"schema": schema}}
    extra = list(media_types)
    if extra:
        content = out.setdefault("content", {})
        for name in extra:
            content[name] = {"schema": {"type": "string"}}
    if headers:
        out["headers"] = dict(headers)
    return out


def error(description: str, *, headers: Mapping[str, Json] | None = None) -> Json:
    """A 4xx or 5xx answer: JSON ``{"message": ...}``."""
    return response(description, ERROR_REF, headers=headers)


def json_body(schema: Json, description: str = "", *, required: bool = True) -> Json:
    """A request body of JSON."""
    body: Json = {"required": required, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def path_parameter(name: str, description: str, schema: Json | None = None) -> Json:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def query_parameter(name: str, description: str, schema: Json, *, required: bool = False) -> Json:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def bearer_scheme(description: str, bearer_format: str | None = None) -> Json:
    """``Authorization: Bearer <token>``."""
    scheme: Json = {"type": "http", "scheme": "bearer", "description": description}
    if bearer_format:
        scheme["bearerFormat"] = bearer_format
    return scheme


def operation(
    operation_id: str,
    summary: str,
    responses: Mapping[int, Json],
    *,
    description: str = "",
    tags: Iterable[str] = (),
    parameters: Iterable[Json] = (),
    request_body: Json | None = None,
    security: list[Json] | None = None,
    links: Mapping[int, Mapping[str, Json]] | None = None,
) -> Json:
    """An operation object; ``responses`` maps each concrete status code to its response
    (``links``: OpenAPI links added to the response of a status, for stateful clients)."""
    out: Json = {"operationId": operation_id, "summary": summary}
    if description:
        out["description"] = description
    if tags:
        out["tags"] = list(tags)
    params = list(parameters)
    if params:
        out["parameters"] = params
    if request_body is not None:
        out["requestBody"] = request_body
    if security is not None:
        out["security"] = security
    answers: Json = {}
    for status in sorted(responses):
        answer = dict(responses[status])
        if links and status in links:
            answer["links"] = dict(links[status])
        answers[str(status)] = answer
    out["responses"] = answers
    return out


def document(
    *,
    title: str,
    version: str,
    description: str,
    paths: Mapping[str, Json],
    schemas: Mapping[str, Json] | None = None,
    security_schemes: Mapping[str, Json] | None = None,
    tags: Iterable[Json] = (),
) -> Json:
    """The whole document; the shared ``Error`` schema is always among its components."""
    components: Json = {"schemas": {"Error": ERROR_SCHEMA, **(schemas or {})}}
    if security_schemes:
        components["securitySchemes"] = dict(security_schemes)
    out: Json = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": components,
    }
    tag_list = list(tags)
    if tag_list:
        out["tags"] = tag_list
    return out


# -- what several services answer alike -----------------------------------------------------------


def storage_unavailable(service: str) -> Json:
    """The 503 of any route of a Flask service while its Redis is unreachable (init_flask_app)."""
    return error(
        f"Redis is unreachable: `{service} is temporarily unavailable; try again shortly.`"
    )


def gunicorn_limits() -> dict[int, Json]:
    """What gunicorn answers, as JSON, before any route runs: a request line over 4094 bytes (414)
    and a header over 8190 bytes, more than 100 headers or a head over 64 KiB (431)."""
    return {
        414: error("The request line (path and query) is over 4094 bytes (gunicorn)."),
        431: error(
            "A header is over 8190 bytes, there are more than 100, or the head is over 64 KiB "
            "(gunicorn)."
        ),
    }


_OPENAPI_DOCUMENT_SCHEMA: Final[Json] = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string"},
        "info": {"type": "object"},
        "paths": {"type": "object"},
    },
}


def openapi_path(title: str, extra: Mapping[int, Json] | None = None) -> Json:
    """The path item of ``GET /openapi.json`` (``extra``: more statuses, e.g. gunicorn's)."""
    return {
        "get": operation(
            "getOpenApiDocument",
            f"This document: the OpenAPI 3.1 description of {title}.",
            {200: response("The OpenAPI document.", _OPENAPI_DOCUMENT_SCHEMA), **(extra or {})},
            tags=["meta"],
        )
    }


def flask_plumbing_paths(service: str) -> dict[str, Json]:
    """``GET /healthz`` and ``GET /metrics`` as :func:`varcade_workers.web.init_flask_app` serves
    them (under gunicorn)."""
    limits = gunicorn_limits()
    return {
        "/healthz": {
            "get": operation(
                "getHealth",
                "Readiness: 200 when Redis answers, 503 otherwise.",
                {
                    200: response(
                        "Redis answers.",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "ok"}},
                        },
                    ),
                    503: error("Redis is unreachable (`redis unreachable: <error type>`)."),
                    **limits,
                },
                tags=["meta"],
            )
        },
        "/metrics": {
            "get": operation(
                "getMetrics",
                f"Prometheus metrics of {service}: requests and latency per endpoint and product, "
                "summed over the gunicorn workers.",
                {
                    200: response("The Prometheus text exposition.", media_types=["text/plain"]),
                    **limits,
                },
                tags=["meta"],
            )
        },
    }


# -- the house rules ------------------------------------------------------------------------------

_STATUS = re.compile(r"[1-5][0-9]{2}")
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


def operations(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (path, METHOD) pairs the document lists."""
    return {
        (path, method.upper())
        for path, item in doc.get("paths", {}).items()
        for method in item
        if method in METHODS
    }


_FLASK_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def flask_routes(
    app: Any, *, ignore_methods: Iterable[str] = ("HEAD", "OPTIONS")
) -> set[tuple[str, str]]:
    """The (path, METHOD) pairs a Flask app registers, paths written the OpenAPI way
    (``<converter:name>`` -> ``{name}``); HEAD and OPTIONS, which Flask adds by itself, left out."""
    ignored = {m.upper() for m in ignore_methods}
    return {
        (_FLASK_VARIABLE.sub(r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ignored
    }


def _resolve(doc: Mapping[str, Any], schema: Any) -> Any:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < 20:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            return schema
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        schema, seen = node, seen + 1
    return schema


def _schemas_in(schema: Any) -> Iterator[Mapping[str, Any]]:
    """Every schema object nested in ``schema`` (not following references)."""
    if isinstance(schema, Mapping):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "patternProperties", "$defs"):
                if isinstance(value, Mapping):
                    for sub in value.values():
                        yield from _schemas_in(sub)
            elif key in ("items", "additionalProperties", "not", "contains", "if", "then", "else"):
                yield from _schemas_in(value)
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
                for sub in value:
                    yield from _schemas_in(sub)


def _requires_fields(doc: Mapping[str, Any], schema: Any) -> bool:
    resolved = _resolve(doc, schema)
    return isinstance(resolved, Mapping) and bool(resolved.get("required"))


def problems(doc: Mapping[str, Any]) -> list[str]:
    """What breaks the house rules (module docstring); an empty list when nothing does."""
    found: list[str] = []
    if not str(doc.get("openapi", "")).startswith("3.1."):
        found.append(f"openapi must be 3.1.x, not {doc.get('openapi')!r}")
    global_security = doc.get("security")
    for path, item in doc.get("paths", {}).items():
        shared_params = item.get("parameters", [])
        for method in (m for m in item if m in METHODS):
            op = item[method]
            where = f"{method.upper()} {path}"
            found.extend(_operation_problems(doc, where, path, op, shared_params, global_security))
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        for sub in _schemas_in(schema):
            if "properties" in sub and "required" not in sub:
                found.append(f"components.schemas.{name}: an object lists properties, no required")
    return found


def _operation_problems(
    doc: Mapping[str, Any],
    where: str,
    path: str,
    op: Mapping[str, Any],
    shared_params: list[Any],
    global_security: Any,
) -> list[str]:
    found: list[str] = []
    if not op.get("operationId"):
        found.append(f"{where}: no operationId")
    params = [_resolve(doc, p) for p in [*shared_params, *op.get("parameters", [])]]
    path_params = {p.get("name"): p for p in params if p.get("in") == "path"}
    for name in _TEMPLATE.findall(path):
        param = path_params.get(name)
        if param is None:
            found.append(f"{where}: path variable {{{name}}} is not a parameter")
        elif param.get("required") is not True:
            found.append(f"{where}: path parameter {name} is not required")
    body = op.get("requestBody")
    if body is not None:
        for media, content in _resolve(doc, body).get("content", {}).items():
            for sub in _schemas_in(content.get("schema")):
                if "properties" in sub and "required" not in sub:
                    found.append(f"{where}: request body {media} lists properties, no required")
    responses = op.get("responses") or {}
    if not responses:
        found.append(f"{where}: no responses")
    if "default" in responses:
        found.append(f"{where}: a default response (list the concrete statuses)")
    secured = op.get("security", global_security)
    if secured and "401" not in responses:
        found.append(f"{where}: secured, but no 401")
    if not any(str(status).startswith("2") for status in responses):
        found.append(f"{where}: no 2xx response")
    for status, answer in responses.items():
        if status == "default":
            continue
        found.extend(_response_problems(doc, f"{where} {status}", str(status), answer))
    return found


def _response_problems(doc: Mapping[str, Any], where: str, status: str, answer: Any) -> list[str]:
    found: list[str] = []
    if not _STATUS.fullmatch(status):
        return [f"{where}: not a concrete status code"]
    answer = _resolve(doc, answer)
    if not answer.get("description"):
        found.append(f"{where}: no description")
    content = answer.get("content") or {}
    if not content and status not in ("204", "304"):
        found.append(f"{where}: no body described")
    for media, entry in content.items():
        for sub in _schemas_in(entry.get("schema")):
            if "properties" in sub and "required" not in sub:
                found.append(f"{where}: {media} lists properties, no required")
    if int(status) >= 400:
        json_content = content.get("application/json")
        if json_content is None:
            found.append(f"{where}: an error without a JSON body")
        elif not _requires_fields(doc, json_content.get("schema")):
            found.append(f"{where}: an error body without required fields")
    return found


def conformance(
    doc: Mapping[str, Any],
    path: str,
    method: str,
    status: int,
    body: Any = None,
    media_type: str = "application/json",
) -> list[str]:
    """For tests: what is wrong with an answer (`status`, JSON `body`) of the operation `method
    path` (a path template, e.g. ``/stats/{product_id}/{user_id}``) according to `doc`; an empty
    list when it conforms. Needs ``jsonschema`` (a test dependency)."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    op = doc.get("paths", {}).get(path, {}).get(method.lower())
    if op is None:
        return [f"{method.upper()} {path} is not in the document"]
    answer = _resolve(doc, op["responses"].get(str(status)))
    if not answer:
        return [f"{method.upper()} {path}: status {status} is not documented"]
    content = answer.get("content") or {}
    if media_type not in content:
        return [f"{method.upper()} {path} {status}: {media_type} is not documented"]
    schema = {**content[media_type].get("schema", {}), "components": doc.get("components", {})}
    validator = Draft202012Validator(schema)
    return [
        f"{method.upper()} {path} {status}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(body)
    ]
