"""One error boundary for every app handler.

`guarded(handler)` is applied where handlers are wired (`run.click(guarded(fn), ...)`):

- gr.Error passes through (the handler already wrote a plain sentence);
- InputError (common.validate) becomes a gr.Error with its own message, which is written for users;
- anything else is logged on the server with its traceback and an id, and the user sees only a
  short sentence with that id: never the exception's text, which may hold server paths.
"""
from __future__ import annotations

import functools
import inspect
import logging
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


def _translate(error: Exception) -> gr.Error:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, InputError):
        return gr.Error(str(error))
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
