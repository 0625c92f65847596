"""One error boundary for every app handler.

`guarded(handler)` is applied where handlers are wired (`run.click(guarded(fn), ...)`):

- gr.Error passes through (the handler already wrote a plain sentence);
- InputError (common.validate) becomes a gr.Error with its own message, which is written for users;
- in both, any absolute path left in the message is cut down to the file's own name;
- anything else is logged on the server with its traceback and an id, and the user sees only a
  short sentence with that id: never the exception's text, which may hold server paths.
- A plain refusal is logged at INFO, one line without a traceback (Gradio prints one for every
  gr.Error unless told not to: `print_exception=False`). `configure_logging()` (called by app.py)
  gives the app's loggers a handler, so those lines reach the server's stderr: without one, Python
  shows only warnings and errors.

`BoundaryBlocks` is the gr.Blocks the app is built on: it moves the same boundary in front of
Gradio's own input processing (`Blocks.preprocess_data`: moving a file into the cache, validating
the data model, each component's `preprocess`), which runs before any handler. There a number
field or a choice with a wrong value is answered in words naming the field, and any other failure
(a file path that was never uploaded, a string where a picture belongs) gets one plain sentence,
never Gradio's text (which names server paths, Python types and pydantic's errors).
"""
from __future__ import annotations

import functools
import html
import inspect
import logging
import re
import uuid

import gradio as gr

from common.validate import InputError, visible_text

log = logging.getLogger("demos.errors")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
APP_LOGGERS = ("demos", "analysis", "common", "mirror_model", "eembed_model")


def configure_logging(stream=None, level: int = logging.INFO) -> logging.Handler:
    """One stream handler (stderr unless `stream`) at `level` for the app's own loggers, one line
    per record; other libraries' loggers are left as they are (httpx would log every request at
    INFO). Calling it again replaces the handler it added before. Returns the handler."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.set_name("app-log")
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == "app-log"]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False  # a root handler set elsewhere would print each line twice
    return handler

UNEXPECTED = ("Something went wrong on the server (error id {id}). Try again, or with another input; "
              "if it keeps happening, report the id.")


def unexpected_error(error: BaseException) -> gr.Error:
    """Log `error` with its traceback under a new id; the gr.Error the user sees."""
    error_id = uuid.uuid4().hex[:8]
    log.error("handler error %s", error_id, exc_info=(type(error), error, error.__traceback__))
    return gr.Error(UNEXPECTED.format(id=error_id), print_exception=False)  # logged above, with its id


# An absolute path (two or more parts) anywhere in a message; its last part (the file's own name) is kept.
_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"`(),:;]+/)+([^\s/'\"`(),:;]*)")


def without_paths(message: str) -> str:
    """`message` with every absolute path cut down to its last part: the upload's own file name
    means something to the user, the server's folders never do (a last guard: readers already
    name files by their names)."""
    return _PATH.sub(lambda match: match.group(1) or "…", message)


def plain_error(message: str, like: gr.Error | None = None, cause: str = "") -> gr.Error:
    """A gr.Error for a plain refusal: no absolute path in it, no control or bidirectional
    formatting characters (common.validate.visible_text), and <, > and & as HTML entities (the
    page shows a message as HTML: a file name such as `<img src=x>.png` is shown, not rendered);
    logged at INFO in one line without a traceback (`cause`: what was refused, for the log only)."""
    message = html.escape(visible_text(without_paths(message)), quote=False)
    log.info("refused%s: %s", f" ({cause})" if cause else "", message)
    if like is None:
        return gr.Error(message, print_exception=False)
    return gr.Error(message, duration=like.duration, visible=like.visible, title=like.title, print_exception=False)


def _translate(error: Exception) -> gr.Error:
    if isinstance(error, gr.Error):
        return plain_error(str(error.message), like=error)
    if isinstance(error, InputError):
        return plain_error(str(error))
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


UNREADABLE_INPUT = ("One of the inputs could not be read: a file must be uploaded to this server first (the page and "
                    "gradio_client do this), a picture must be a picture file and a number a number. Check the "
                    "values sent and try again.")


def _field_name(block) -> str:
    label = getattr(block, "label", None)
    return label.strip() if isinstance(label, str) and label.strip() else f"The {block.get_block_name()} field"


def _refuse_field(block, value) -> None:
    """A plain gr.Error, naming the field, for what Gradio itself would refuse in words of its own
    (a value that is no number, a number outside the field's bounds, a choice not offered; bounds
    and choices as the page set them). NaN passes, as Gradio lets it: the handler's own check
    (demos.inputs.number) names it with the handler's range."""
    shown = repr(value)[:40]
    if isinstance(block, (gr.Slider, gr.Number)):
        low, high = getattr(block, "minimum", None), getattr(block, "maximum", None)
        bounds = (f" between {low:g} and {high:g}" if low is not None and high is not None
                  else f" of at least {low:g}" if low is not None else f" of at most {high:g}" if high is not None else "")
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None and isinstance(block, gr.Number):
            return
        if not is_number or (low is not None and value < low) or (high is not None and value > high):
            raise plain_error(f"{_field_name(block)} must be a number{bounds}; got {shown}.")
    elif isinstance(block, (gr.Dropdown, gr.Radio, gr.CheckboxGroup)):
        if isinstance(block, gr.Dropdown) and getattr(block, "allow_custom_value", False):
            return
        allowed = [choice[1] if isinstance(choice, (tuple, list)) else choice for choice in (block.choices or [])]
        several = isinstance(block, gr.CheckboxGroup) or getattr(block, "multiselect", False)
        values = value if several and isinstance(value, list) else [value]
        if value is None and not several:
            return
        if not all(isinstance(item, (str, int, float)) and item in allowed for item in values):
            names = ", ".join(map(str, allowed))[:300]
            raise plain_error(f"{_field_name(block)} must be {'among' if several else 'one of'} {names}; got {shown}.")


class BoundaryBlocks(gr.Blocks):
    """gr.Blocks with the error boundary in front of Gradio's own input processing (see above)."""

    async def preprocess_data(self, block_fn, inputs, state, *args, **kwargs):
        prop_inputs = getattr(block_fn, "component_prop_inputs", ()) or ()
        for index, block in enumerate(block_fn.inputs):
            if index < len(inputs) and index not in prop_inputs and not getattr(block, "stateful", False):
                current = state[block._id] if state is not None and block._id in state else block
                _refuse_field(current, inputs[index])
        try:
            return await super().preprocess_data(block_fn, inputs, state, *args, **kwargs)
        except gr.Error as error:
            raise plain_error(str(error.message), like=error) from None
        except Exception as error:
            raise plain_error(UNREADABLE_INPUT, cause=f"input before the handler: {type(error).__name__}") from None
