"""The human loop: requests from the agent that wait for a person, and their answers.

A Codex server request (an approval, a question, an MCP elicitation) becomes
a ``human_loop_requests`` row and a ``human_loop.requested`` event; a reply is
stored (the first answer wins), reported as ``human_loop.resolved`` and
handed to the process that owns the run's live session, which delivers it
to the executor. Requests nobody answers expire (the agent gets a decline);
requests of a stopped run are canceled.

Modules: :mod:`.records` (plain records), :mod:`.answers` (checking,
redacting and choosing answers), :mod:`.store` (every state change),
:mod:`.queries` (reads for callers), :mod:`.ingest` (the executor's events),
:mod:`.convert` and :mod:`.servicer` (the gRPC layer), :mod:`.sweeper`
(periodic expiry).
"""
