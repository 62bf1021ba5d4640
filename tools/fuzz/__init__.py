"""`make fuzz`: the arcade's HTTP APIs, WebSocket and event stream fed hostile input
(python -m tools.fuzz).

One private stack (`stack`: a private Redis and the five processes of `make run`, on free ports,
with the abuse limits raised for the run) is fuzzed by:

- `http`: schemathesis against each OpenAPI document the services serve (the matchmaker's and the
  stats tracker's, the game server's control API and its page with `/dev/token`): positive and
  negative examples per operation, then stateful sequences along the documents' links; checked:
  no 5xx, every answer conforms to the document (status, content type, body, headers, auth);
- `ws`: a WebSocket fuzzer against live games seated through the matchmaker (malformed JSON, wrong
  types, unknown types, huge, binary and invalid UTF-8 frames, floods, bad connect lines), each
  frame's answer compared with what the protocol says, while other games play to the end; then a
  quiet game's round trip measured while sockets flood (game_rps/tests/flood.py);
- the stream poison step of `make chaos` (tools/chaos/step_poison.py, on its own private stack).

Modules: `stack`, `http`, `ws`, `sizes` (the full and the short run), `__main__` (the command line
and the summary). Importing the package puts the services' folders on `sys.path` (tools.chaos
does), so `game_rps` imports as it does in its own folder.
"""

from __future__ import annotations

import tools.chaos  # noqa: F401  (the services' project folders on sys.path)
from tools.chaos import ROOT

__all__ = ["ROOT"]
