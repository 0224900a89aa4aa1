"""MLflow's protobuf-JSON conventions, both ways.

Requests: a GET with a query string is read from the query (a repeated field may occur several
times); anything else from a JSON object body. As MLflow's server does, an empty body reads as
``{}`` and a JSON string body is decoded once more (older clients double-encode). Values follow
proto3 JSON: int64 fields take numbers or numeric strings, doubles take numbers or ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``, enums take their name or number.

Responses: proto field names, unset fields left out, int64 as numbers (as MLflow's own
``message_to_json`` writes them) and non-finite doubles as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``: never the bare ``NaN`` that is not JSON.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import JSONResponse

from shipyard.entities import RunStatus, ViewType
from shipyard.server.mlflow.errors import BAD_REQUEST, MlflowApiError, invalid_parameter

JSON = dict[str, Any]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOUBLE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_VIEW_TYPES = {"ACTIVE_ONLY": ViewType.ACTIVE_ONLY, "DELETED_ONLY": ViewType.DELETED_ONLY,
               "ALL": ViewType.ALL}
_VIEW_NUMBERS = {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}
_RUN_STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def _int64(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("int64", "expected an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise PydanticCustomError("int64", "expected an integer") from None
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise PydanticCustomError("int64", "out of the int64 range")
    return value


def _double(value: object) -> object:
    if isinstance(value, bool):
        raise PydanticCustomError("double", "expected a number, got a boolean")
    if isinstance(value, str):
        if value in _DOUBLE_NAMES:
            return _DOUBLE_NAMES[value]
        try:
            return float(value)
        except ValueError:
            raise PydanticCustomError(
                "double", "expected a number, 'NaN', 'Infinity' or '-Infinity'") from None
    return value


def _enum(names: Mapping[int, str]) -> Any:
    def convert(value: object) -> object:
        if isinstance(value, bool):
            raise PydanticCustomError("enum", "expected one of {names}",
                                      {"names": ", ".join(names.values())})
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, int):
            if value not in names:
                raise PydanticCustomError("enum", "expected one of {names}",
                                          {"names": ", ".join(names.values())})
            return names[value]
        return value

    return convert


def _required_text(value: object) -> object:
    if value is None or value == "":
        raise PydanticCustomError("missing", "Field required")
    return value


Int64 = Annotated[int, BeforeValidator(_int64)]
Double = Annotated[float, BeforeValidator(_double)]
Text = Annotated[str, BeforeValidator(_required_text)]
"""A string that must be present and non-empty (MLflow's ``_assert_required``)."""


def _view_type(value: object) -> object:
    name = _enum(_VIEW_NUMBERS)(value)
    if isinstance(name, str) and name.upper() in _VIEW_TYPES:
        return _VIEW_TYPES[name.upper()]
    raise PydanticCustomError("enum", "expected one of ACTIVE_ONLY, DELETED_ONLY, ALL")


def _run_status(value: object) -> object:
    name = _enum(_RUN_STATUS_NUMBERS)(value)
    if isinstance(name, str) and name.upper() in RunStatus.__members__:
        return RunStatus(name.upper())
    raise PydanticCustomError("enum", "expected one of {names}",
                              {"names": ", ".join(RunStatus.__members__)})


ViewTypeField = Annotated[ViewType, BeforeValidator(_view_type)]
RunStatusField = Annotated[RunStatus, BeforeValidator(_run_status)]


class Message(BaseModel):
    """A request message. Unknown fields are ignored, as protobuf's JSON parser does."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def repeated_fields(cls) -> frozenset[str]:
        return frozenset(name for name, field in cls.model_fields.items()
                         if typing.get_origin(field.annotation) is list)


M = TypeVar("M", bound=Message)


MAX_BODY = 16 * 1024 * 1024
"""The largest JSON request body any RPC reads; ``log-batch`` allows MLflow's 1 MB only."""


async def read_body(request: Request, max_bytes: int = MAX_BODY) -> bytes:
    """The request body; past ``max_bytes`` reading stops with INVALID_PARAMETER_VALUE."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise invalid_parameter(f"The request body is larger than {max_bytes} bytes, the "
                                    "most this API accepts in one request.")
        chunks.append(chunk)
    return b"".join(chunks)


def _fast_decoder() -> Callable[[bytes | str], Any]:
    """orjson's decoder (the server extra installs it: a 1000-point batch decodes in less
    than half the time), else the standard library's."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - depends on the installed extras
        return json.loads
    return orjson.loads


_fast_loads = _fast_decoder()


def _loads(body: bytes | str) -> Any:
    try:
        return _fast_loads(body)
    except ValueError:
        # What orjson refuses but Python's json reads (bare NaN and Infinity, integers past
        # 64 bits) still decodes, and a body that is not JSON gets json's wording of why.
        return json.loads(body)


def _decode_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = _loads(body)
        if isinstance(data, str):  # double-encoded by an older client
            data = _loads(data) if data.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise MlflowApiError(BAD_REQUEST, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MlflowApiError(BAD_REQUEST, "The request body must be a JSON object, got "
                                          f"{type(data).__name__}.")
    return data


async def read_message(request: Request, message: type[M], max_bytes: int = MAX_BODY) -> M:
    """Parse the request into ``message`` (raises MLflow-shaped errors)."""
    if request.method == "GET" and request.query_params:
        repeated = message.repeated_fields()
        data: dict[str, Any] = {
            name: (request.query_params.getlist(name) if name in repeated
                   else request.query_params[name])
            for name in message.model_fields if name in request.query_params
        }
    else:
        data = _decode_json(await read_body(request, max_bytes))
    return message.model_validate(data)


def double(value: float) -> float | str:
    """A double as proto JSON writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class ProtoJSONResponse(JSONResponse):
    """Compact JSON that refuses bare NaN/Infinity (convert them with :func:`double`)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
