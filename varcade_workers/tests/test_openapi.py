"""varcade_workers.openapi: the shared parts of the services' documents and the house rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from varcade_workers import openapi as oa


def _doc() -> dict[str, Any]:
    secured = [{"token": []}]
    return oa.document(
        title="Example",
        version="1.0",
        description="An example API.",
        paths={
            "/things/{thing_id}": {
                "post": oa.operation(
                    "postThing",
                    "Post a thing.",
                    {
                        200: oa.response(
                            "The thing.",
                            {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}},
                            },
                        ),
                        401: oa.error("No token."),
                        429: oa.error("Too many.", headers={"Retry-After": oa.RETRY_AFTER}),
                        **oa.gunicorn_limits(),
                    },
                    parameters=[oa.path_parameter("thing_id", "The thing.")],
                    request_body=oa.json_body(
                        {"type": "object", "required": [], "properties": {"n": {"type": "integer"}}}
                    ),
                    security=secured,
                )
            },
            "/openapi.json": oa.openapi_path("Example"),
            **oa.flask_plumbing_paths("example"),
        },
        security_schemes={"token": oa.bearer_scheme("A token.", "JWT")},
    )


def test_a_document_built_from_the_parts_is_valid_and_keeps_the_rules() -> None:
    doc = _doc()
    validate(doc)
    assert oa.problems(doc) == []
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["schemas"]["Error"]["required"] == ["message"]
    assert oa.operations(doc) == {
        ("/things/{thing_id}", "POST"),
        ("/openapi.json", "GET"),
        ("/healthz", "GET"),
        ("/metrics", "GET"),
    }
    # status codes are strings, in order, each an error body where it is an error
    responses = doc["paths"]["/things/{thing_id}"]["post"]["responses"]
    assert list(responses) == ["200", "401", "414", "429", "431"]
    assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    health = doc["paths"]["/healthz"]["get"]["responses"]
    assert health["503"]["content"]["application/json"]["schema"] == oa.ERROR_REF


def _broken(change: Any) -> list[str]:
    doc = copy.deepcopy(_doc())
    change(doc)
    return oa.problems(doc)


OP = ("paths", "/things/{thing_id}", "post")


def _op(doc: dict[str, Any]) -> dict[str, Any]:
    node: Any = doc
    for key in OP:
        node = node[key]
    assert isinstance(node, dict)
    return node


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: _op(d)["responses"].update(default=oa.error("x")), "a default response"),
        (lambda d: _op(d)["responses"].update({"4XX": oa.error("x")}), "not a concrete status"),
        (lambda d: _op(d)["responses"].pop("401"), "secured, but no 401"),
        (lambda d: _op(d)["responses"].pop("200"), "no 2xx response"),
        (lambda d: _op(d).pop("operationId"), "no operationId"),
        (
            lambda d: _op(d)["responses"].update({"404": oa.response("x", media_types=["a/b"])}),
            "an error without a JSON body",
        ),
        (
            lambda d: _op(d)["responses"].update({"400": oa.response("x", {"type": "object"})}),
            "an error body without required fields",
        ),
        (lambda d: _op(d)["responses"]["200"].pop("content"), "no body described"),
        (lambda d: _op(d)["responses"]["200"].update(description=""), "no description"),
        (lambda d: _op(d)["parameters"][0].update(required=False), "is not required"),
        (lambda d: _op(d).pop("parameters"), "path variable {thing_id} is not a parameter"),
        (
            lambda d: _op(d)["responses"]["200"]["content"]["application/json"]["schema"].pop(
                "required"
            ),
            "lists properties, no required",
        ),
        (
            lambda d: d["components"]["schemas"].update(
                Loose={"type": "object", "properties": {"a": {"type": "string"}}}
            ),
            "components.schemas.Loose",
        ),
        (lambda d: d.update(openapi="3.0.3"), "openapi must be 3.1.x"),
    ],
)
def test_the_house_rules_name_what_breaks_them(change: Any, problem: str) -> None:
    found = _broken(change)
    assert any(problem in line for line in found), found


def test_flask_routes_are_written_the_openapi_way() -> None:
    app = Flask("example", static_folder=None)
    app.add_url_rule("/a/<product_id>/b/<path:rest>", "a", lambda **_: "", methods=["POST"])
    app.add_url_rule("/c/<int:n>", "c", lambda **_: "")
    assert oa.flask_routes(app) == {("/a/{product_id}/b/{rest}", "POST"), ("/c/{n}", "GET")}


def test_conformance_of_an_answer() -> None:
    doc = _doc()
    path = "/things/{thing_id}"
    assert oa.conformance(doc, path, "POST", 200, {"id": "a"}) == []
    assert oa.conformance(doc, path, "POST", 401, {"message": "no"}) == []
    assert "'id' is a required property" in oa.conformance(doc, path, "POST", 200, {})[0]
    assert "'message' is a required property" in oa.conformance(doc, path, "POST", 429, {})[0]
    assert "not documented" in oa.conformance(doc, path, "POST", 404, {"message": "x"})[0]
    assert "not in the document" in oa.conformance(doc, "/nope", "GET", 200)[0]
    metrics = oa.conformance(doc, "/metrics", "GET", 200, "x", media_type="text/plain")
    assert metrics == []
