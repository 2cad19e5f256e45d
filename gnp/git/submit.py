"""Submitting a delta from JSON, as ``gnp submit`` does: validate, sign, leave in the inbox.

Everything that can be seen to be wrong is refused here, where the submitter sees it,
rather than at the frame: bad JSON, unknown ops, bad pointers or files, limits, more
authority or other files than the worker's grant on main. What only the frame can
decide (a failing ``test``, a conflict, a grant changed meanwhile) is decided there.
"""

from __future__ import annotations

from typing import Any

from gnp.core import canonical, grants
from gnp.core.delta import Delta, check_limits, compose
from gnp.core.errors import Malformed, TooLarge
from gnp.core.ops import Op
from gnp.git.hub import Hub
from gnp.git.inbox import submit
from gnp.host import clock, keys


def parse_request(data: bytes) -> tuple[list[Any], int, str | None]:
    """(ops, authority, author) from a JSON list of ops or ``{"ops": [...], ...}``."""
    request = canonical.decode(data)
    if isinstance(request, list):
        return request, 0, None
    if not isinstance(request, dict):
        raise Malformed('expected a JSON list of ops, or {"ops": [...], "authority": N}')
    unknown = request.keys() - {"ops", "authority", "author"}
    if unknown:
        raise Malformed(
            f"unknown field(s): {', '.join(sorted(unknown))}; expected ops, authority, author"
        )
    if "ops" not in request or not isinstance(request["ops"], list):
        raise Malformed('"ops" must be a JSON list of operations')
    authority = request.get("authority", 0)
    author = request.get("author")
    return request["ops"], authority, author


def build(hub: Hub, worker: str, data: bytes) -> Delta:
    """The signed delta ``data`` asks for, refused now if anything is visibly wrong."""
    state = hub.state()
    limits = state.limits
    if len(data) > limits.max_bytes:
        raise TooLarge(f"request is {len(data)} bytes; the limit is {limits.max_bytes}")
    raw_ops, authority, author = parse_request(data)
    if not raw_ops:
        raise Malformed("a delta needs at least one operation")
    ops = []
    for i, raw in enumerate(raw_ops):
        try:
            ops.append(Op.from_json(raw, limits))
        except Malformed as exc:
            raise type(exc)(f"op {i + 1}: {exc}") from None
    key = keys.load(state.hub_id, worker, hub.named)
    delta = compose(
        worker, ops, frame=state.frame, stamp=clock.stamp(), authority=authority, author=author
    )
    check_limits(delta, limits)
    grants.check(delta, state.grants.of(worker))
    signed = key.sign(delta)
    if len(signed.encode()) > limits.max_bytes:
        raise TooLarge(f"the delta would be over {limits.max_bytes} bytes")
    return signed


def submit_json(hub: Hub, worker: str, data: bytes) -> str:
    return submit(hub, build(hub, worker, data))
