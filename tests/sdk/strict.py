"""Strict validation of raw JSON against the `openai` SDK's pydantic models, shared by the checks.

`validate(Model, raw)` runs pydantic in strict mode (no coercion: a string where a number belongs
fails) and then walks the result beside the raw JSON: a field the SDK types as non-nullable must be
present and non-null in the raw JSON, even where the model would default it.
"""
import types
import typing

import pydantic

_adapters = {}


def _nullable(annotation):
    """Whether `annotation` admits None (Optional, a Union with None, Any or object)."""
    if annotation in (typing.Any, object, None, type(None)):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _nullable(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_nullable(a) for a in typing.get_args(annotation))
    return False


def _walk(value, raw, path, problems):
    if isinstance(value, pydantic.BaseModel):
        if not isinstance(raw, dict):
            problems.append(f"{path}: expected an object, got {raw!r}")
            return
        for name, field in type(value).model_fields.items():
            key = field.alias or name
            if not _nullable(field.annotation) and raw.get(key) is None:
                problems.append(f"{path}.{key}: required by {type(value).__name__} but missing or null")
            if key in raw:
                _walk(getattr(value, name), raw[key], f"{path}.{key}", problems)
    elif isinstance(value, list) and isinstance(raw, list):
        for i, (v, r) in enumerate(zip(value, raw)):
            _walk(v, r, f"{path}[{i}]", problems)
    elif isinstance(value, dict) and isinstance(raw, dict):
        for k, v in value.items():
            if k in raw:
                _walk(v, raw[k], f"{path}.{k}", problems)


def validate(model, raw, what="body"):
    """`raw` validated strictly as `model` (a class or a union type); raises ValueError on any gap."""
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = pydantic.TypeAdapter(model)
    try:
        value = adapter.validate_python(raw, strict=True)
    except pydantic.ValidationError as e:
        raise ValueError(f"{what} does not validate as {getattr(model, '__name__', model)}: {e}\n{raw}") from e
    problems = []
    _walk(value, raw, what, problems)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def sse_events(lines):
    """(event name or None, JSON payload) of each SSE event in an iterator of text lines."""
    import json

    name, data = None, []
    for line in lines:
        if line == "":
            if data:
                payload = "\n".join(data)
                yield name, (payload if payload == "[DONE]" else json.loads(payload))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[len("event:"):].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:"):].lstrip())
    if data:
        payload = "\n".join(data)
        yield name, (payload if payload == "[DONE]" else json.loads(payload))
