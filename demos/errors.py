"""One error boundary for every app handler.

`guarded(handler)` is applied where handlers are wired (`run.click(guarded(fn), ...)`):

- gr.Error passes through (the handler already wrote a plain sentence);
- InputError (common.validate) becomes a gr.Error with its own message, which is written for users;
- in both, any absolute path left in the message is cut down to the file's own name;
- anything else is logged on the server with its traceback and an id, and the user sees only a
  short sentence with that id: never the exception's text, which may hold server paths.
"""
from __future__ import annotations

import functools
import inspect
import logging
import re
import uuid

import gradio as gr

from common.validate import InputError

log = logging.getLogger("demos.errors")

UNEXPECTED = ("Something went wrong on the server (error id {id}). Try again, or with another input; "
              "if it keeps happening, report the id.")


def unexpected_error(error: BaseException) -> gr.Error:
    """Log `error` with its traceback under a new id; the gr.Error the user sees."""
    error_id = uuid.uuid4().hex[:8]
    log.error("handler error %s", error_id, exc_info=(type(error), error, error.__traceback__))
    return gr.Error(UNEXPECTED.format(id=error_id))


# An absolute path (two or more parts) anywhere in a message; its last part (the file's own name) is kept.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"`(),:;]+/)+([^\s/'\"`(),:;]*)")


def without_paths(message: str) -> str:
    """`message` with every absolute path cut down to its last part: the upload's own file name
    means something to the user, the server's folders never do (a last guard: readers already
    name files by their names)."""
    return _PATH.sub(lambda match: match.group(1) or "…", message)


def _translate(error: Exception) -> gr.Error:
    if isinstance(error, gr.Error):
        message = without_paths(str(error.message))
        if message == error.message:
            return error
        return gr.Error(message, duration=error.duration, visible=error.visible, title=error.title)
    if isinstance(error, InputError):
        return gr.Error(without_paths(str(error)))
    return unexpected_error(error)


def guarded(handler):
    """The handler behind the error boundary (plain functions and generators alike)."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def generator_wrapper(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except Exception as error:
                raise _translate(error) from None
        return generator_wrapper

    @functools.wraps(handler)
    def wrapper(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            raise _translate(error) from None
    return wrapper
