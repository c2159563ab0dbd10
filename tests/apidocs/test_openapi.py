"""The OpenAPI document at /openapi.json says what the API does: how each operation is
authenticated, what it answers when refused, and what it takes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.helpers import app_platform, basic, make_token

INGESTION = ["/v1/identify", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias",
             "/v1/batch"]  # fmt: skip
PROBLEM = "application/problem+json"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the document does not depend on the database


@pytest.fixture
async def document(app_client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await app_client.get("/openapi.json")
    assert answer.status_code == 200
    return dict(answer.json())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_both_credentials_are_declared_as_security_schemes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"apiToken", "writeKey"}
    assert schemes["apiToken"] | {"description": ""} == {
        "type": "http", "scheme": "bearer", "description": ""}  # fmt: skip
    assert schemes["writeKey"] | {"description": ""} == {
        "type": "http", "scheme": "basic", "description": ""}  # fmt: skip
    assert "omni tokens create" in schemes["apiToken"]["description"]
    assert "user name" in schemes["writeKey"]["description"]


def test_each_operation_names_the_credential_it_takes(document: dict[str, Any]) -> None:
    for (method, path), operation in operations(document).items():
        security = operation.get("security")
        if path in INGESTION:
            assert (method, security) == ("POST", [{"writeKey": []}]), path
        elif path == "/sourceConfig":  # Basic, or the key as ?writeKey=
            assert security == [{"writeKey": []}, {}]
            assert [p["name"] for p in operation["parameters"]] == ["writeKey"]
        elif path.startswith(("/v1/profiles", "/v1/jobs")):
            assert security == [{"apiToken": []}], (method, path)
        else:  # the SDK settings (the key is in the path), and the operator's endpoints
            assert path in ("/v1/projects/{write_key}/settings", "/healthz", "/readyz",
                            "/metrics"), path  # fmt: skip
            assert security is None, path


def unauthorized(detail: str, challenge: str) -> tuple[int, dict[str, Any], str]:
    body = {"type": "https://omnichannel.dev/problems/unauthorized",
            "title": "Authentication is required", "status": 401, "detail": detail}  # fmt: skip
    return 401, body, challenge


NO_TOKEN = "Send an API token as `Authorization: Bearer …` (`omni tokens create`)."
BEARER = 'Bearer realm="omnichannel"'


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, unauthorized(NO_TOKEN, BEARER)),
        ({"Authorization": "Basic d2tfeDo="}, unauthorized(NO_TOKEN, BEARER)),
        ({"Authorization": "Bearer"}, unauthorized(NO_TOKEN, BEARER)),
        ({"Authorization": "Bearer "}, unauthorized(NO_TOKEN, BEARER)),
        ({"Authorization": "bearer omni_nope"},
         unauthorized("Unknown or revoked API token.", BEARER)),
    ],
)  # fmt: skip
async def test_refusals_are_still_the_apps_own(
    app_client: httpx.AsyncClient,
    headers: dict[str, str],
    expected: tuple[int, dict[str, Any], str],
) -> None:
    """Declaring the schemes changed no answer: problem+json with the app's challenge, never
    FastAPI's own 403 ``Not authenticated``."""
    answer = await app_client.get("/v1/profiles/lookup?type=email&value=a@b.co", headers=headers)
    status, body, challenge = expected
    assert (answer.status_code, answer.json(), answer.headers.get("www-authenticate")) == (
        status, body, challenge)  # fmt: skip
    assert answer.headers["content-type"] == PROBLEM


async def test_a_role_short_of_the_operation_is_still_a_403_naming_the_roles(
    app_client: httpx.AsyncClient,
) -> None:
    store = await make_token(app_platform(app_client), "store")
    answer = await app_client.get("/v1/profiles/p-1/export", headers=store)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json() == {
        "type": "https://omnichannel.dev/problems/forbidden",
        "title": "This credential may not do that",
        "status": 403,
        "detail": "The store role may not do this; it needs one of: admin.",
    }
    assert "www-authenticate" not in answer.headers


async def test_write_keys_are_still_refused_as_before(app_client: httpx.AsyncClient) -> None:
    missing = await app_client.post("/v1/track", json={"userId": "u", "event": "E"})
    unknown = await app_client.post(
        "/v1/track", json={"userId": "u", "event": "E"}, auth=basic("wk_nope")
    )
    for answer in (missing, unknown):
        assert answer.status_code == 401
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["www-authenticate"] == 'Basic realm="omnichannel"'


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/healthz", "GET, HEAD"),
        # Two routes at one path: Starlette's own Allow named only the first.
        ("PUT", "/v1/profiles/p-1", "GET, DELETE"),
        ("TRACE", "/v1/profiles/p-1/split", "POST"),
        ("GET", "/v1/batch", "POST"),
        # A mount takes any method to its files, which answer their own 405.
        ("POST", "/docs/vendor/swagger-ui.css", "GET, HEAD"),
    ],
)
async def test_a_method_a_path_does_not_take_is_a_405_naming_those_it_does(
    app_client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    answer = await app_client.request(method, path)
    assert (answer.status_code, answer.headers.get("allow")) == (405, allow)
    assert answer.headers["content-type"] == PROBLEM


def test_ids_and_times_are_documented_as_text_or_a_number(document: dict[str, Any]) -> None:
    """What ingestion takes: Segment's libraries send numeric ids as numbers, RudderStack's a
    visitor's userId as "" (no id), and a number is a Unix time."""
    track = document["components"]["schemas"]["Track"]["properties"]
    for field in ("userId", "anonymousId", "messageId"):
        assert {"type": "integer"} in track[field]["anyOf"], field
    assert {"const": "", "type": "string"} in track["userId"]["anyOf"]
    for field in ("timestamp", "originalTimestamp", "sentAt"):
        assert "number" in [option.get("type") for option in track[field]["anyOf"]], field


def test_values_the_api_knows_are_documented_as_such(document: dict[str, Any]) -> None:
    """Swagger UI offers them, and a client generated from the document knows them."""
    timeline = document["paths"]["/v1/profiles/{profile_id}/timeline"]["get"]["parameters"]
    filters = {p["name"]: p["schema"]["items"]["enum"] for p in timeline if p["in"] == "query"
               and p["schema"].get("type") == "array"}  # fmt: skip
    assert "telegram" in filters["channel"] and "identify" in filters["type"]
    consent = document["components"]["schemas"]["ConsentIn"]["properties"]["channel"]
    assert {"web", "sms", "all"} <= set(consent["enum"])


def answers(operation: dict[str, Any]) -> dict[str, str]:
    """Each status the operation lists, with the media type of its body."""
    return {status: ",".join(response.get("content", {}))
            for status, response in operation["responses"].items()}  # fmt: skip


def test_invalid_input_is_documented_as_the_400_problem_it_is(document: dict[str, Any]) -> None:
    # FastAPI's 422 HTTPValidationError, never answered, is gone, schemas and all.
    assert all("422" not in operation["responses"] for operation in operations(document).values())
    assert "ValidationError" not in json.dumps(document)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for (_, path), operation in operations(document).items():
        for status, response in operation["responses"].items():
            if status >= "400":
                assert response["content"] == {PROBLEM: {"schema": problem_ref}}, (path, status)
                assert response["description"], (path, status)


def test_each_operation_lists_the_refusals_it_may_answer(document: dict[str, Any]) -> None:
    role_bound = {("PUT", "/v1/profiles/{profile_id}/consents"),
                  ("POST", "/v1/profiles/{profile_id}/split"),
                  ("GET", "/v1/profiles/{profile_id}/export"),
                  ("DELETE", "/v1/profiles/{profile_id}")}  # fmt: skip
    for (method, path), operation in operations(document).items():
        refusals = [status for status in answers(operation) if status >= "400"]
        if path.startswith(("/v1/profiles", "/v1/jobs")):
            expected = ["400", "401", "403", "404"] if (method, path) in role_bound else [
                "400", "401", "404"]  # fmt: skip
            if path.endswith("/split"):
                expected.append("409")  # a merge already split
            assert refusals == expected, (method, path)
        elif path in INGESTION:
            assert refusals == ["400", "401", "413", "415", "503"], path
        elif path in ("/sourceConfig", "/v1/projects/{write_key}/settings"):
            assert refusals == ["401"], path
        else:
            assert refusals == (["503"] if path == "/readyz" else []), path


async def test_an_invalid_request_is_answered_as_the_problem_schema_says(
    app_client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    admin = await make_token(app_platform(app_client), "admin")
    answer = await app_client.get("/v1/profiles/lookup?type=email", headers=admin)  # no value
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    schema = document["components"]["schemas"]["Problem"]
    body = answer.json()
    assert set(schema["required"]) <= set(body) <= set(schema["properties"])
    assert body["errors"] == [{"field": "value", "message": "Field required"}]
    assert set(body["errors"][0]) == set(schema["properties"]["errors"]["items"]["required"])


def test_ingestion_operations_describe_the_body_they_read(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for path in INGESTION:
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert list(body["content"]) == ["application/json"], path
        assert "gzip" in body["description"]
        name = "Batch" if path == "/v1/batch" else path.removeprefix("/v1/").title()
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{name}"}  # fmt: skip
        assert "writeKey" in schemas[name]["properties"]
        if name != "Batch":  # the path says the type
            assert "type" not in schemas[name].get("required", []), name
    items = schemas["Batch"]["properties"]["batch"]["items"]["oneOf"]
    assert items == [
        {"allOf": [{"$ref": f"#/components/schemas/{name}"}, {"required": ["type"]}]}
        for name in ("Identify", "Track", "Page", "Screen", "Group", "Alias")
    ]
    assert schemas["Batch"]["required"] == ["batch"]
    assert schemas["Track"]["required"] == ["event"]
    assert schemas["Alias"]["required"] == ["previousId"]


async def test_each_documented_example_is_taken_and_each_required_field_is_required(
    app_client: httpx.AsyncClient, web_key: str, document: dict[str, Any]
) -> None:
    schemas = document["components"]["schemas"]
    for path in INGESTION:
        media = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        example = media["example"]
        answer = await app_client.post(path, json=example, auth=basic(web_key))
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["success"] is True, path
        answered = document["paths"][path]["post"]["responses"]["200"]["content"]
        assert_shaped(answer.json(), named(document, answered["application/json"]["schema"]))
        name = media["schema"]["$ref"].rsplit("/", 1)[1]
        for field in schemas[name].get("required", []):
            without = {k: v for k, v in example.items() if k != field}
            refused = await app_client.post(path, json=without, auth=basic(web_key))
            assert refused.status_code == 400, (path, field)
            assert field in [e["field"] for e in refused.json()["errors"]], (path, field)


def named(document: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def assert_shaped(body: dict[str, Any], schema: dict[str, Any]) -> None:
    """``body`` has every field ``schema`` requires, and none it does not name."""
    assert set(schema["required"]) <= set(body) <= set(schema["properties"]), (body, schema)


async def test_a_batch_is_answered_with_the_verdicts_documented(
    app_client: httpx.AsyncClient, web_key: str, document: dict[str, Any]
) -> None:
    batch = {"batch": [{"type": "track", "userId": "u-1", "event": "Viewed"},
                       {"type": "track", "userId": "u-1"}]}  # fmt: skip
    answer = await app_client.post("/v1/batch", json=batch, auth=basic(web_key))
    assert answer.status_code == 200
    verdicts = named(document, {"$ref": "#/components/schemas/Verdicts"})
    assert_shaped(answer.json(), verdicts)
    item = verdicts["properties"]["results"]["items"]
    accepted, rejected = answer.json()["results"]
    assert_shaped(accepted, item)
    assert_shaped(rejected, item)
    assert (accepted["status"], rejected["status"]) == ("accepted", "rejected")
    assert_shaped(rejected["errors"][0], item["properties"]["errors"]["items"])


def test_the_job_operation_says_what_a_job_is(document: dict[str, Any]) -> None:
    description = document["paths"]["/v1/jobs/{job_id}"]["get"]["description"]
    assert "erasure" in description
    assert "`queued`" in description and "`done`" in description
