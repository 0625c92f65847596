"""The server keeps the page state of at most APP_STATE_SESSIONS sessions (Gradio's
state_session_capacity, 10000 by default): a flood of new sessions cannot grow its memory without
bound (each holds its own copy of the page's state, a depth map among it)."""
from __future__ import annotations

from conftest import free_port


def test_the_launched_app_keeps_the_state_of_the_newest_sessions_only(monkeypatch):
    from demos.inputs import DEFAULT_STATE_SESSIONS, max_state_sessions
    from demos.layout import build_demo

    assert max_state_sessions() == DEFAULT_STATE_SESSIONS == 500
    monkeypatch.setenv("APP_STATE_SESSIONS", "2")
    demo = build_demo("synthetic-tiny")
    assert demo.launch_options["state_session_capacity"] == 2
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **demo.launch_options)
    try:
        for session in ("first", "second", "third"):
            demo.state_holder[session]  # a session's state is made when it first calls an event
        assert "first" not in demo.state_holder and {"second", "third"} <= set(demo.state_holder.session_data)
    finally:
        demo.close()
    monkeypatch.setenv("APP_STATE_SESSIONS", "many")
    assert max_state_sessions() == DEFAULT_STATE_SESSIONS  # a bad setting keeps the default
