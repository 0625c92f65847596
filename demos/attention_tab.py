"""Attention viewer: a two-sentence statement of the elementwise claim, then text in → materials and
byte grids, an all-layers x all-heads overview (click a thumbnail to open that head), per-layer/head
heatmaps, heads beside the materials' n-th characters with how much each head actually reads byte n,
and the per-head summary."""
from __future__ import annotations

import threading

import gradio as gr

from analysis.attention_stats import (
    attention_heatmap,
    head_position_view,
    overview_cell,
    overview_thumbnails,
    visible_material,
)

from .errors import guarded
from .examples import EXAMPLE_TEXTS
from .inputs import number

MAX_TEXT_CHARS = 2000
_model = None
_model_lock = threading.Lock()


def attention_model():
    """The bundled eembed model, loaded once and shared by all users."""
    global _model
    from eembed_model.attention import load_attention_model

    with _model_lock:
        if _model is None:
            try:
                _model = load_attention_model()
            except FileNotFoundError:
                raise gr.Error("The bundled attention model is missing on this server.") from None
    return _model


def bundled_shape() -> tuple[int, int]:
    """(layers, heads) of the bundled model, read from its card without loading it, so the sliders
    span the right range before the first run; (4, 8) when the card is missing (the run then says why)."""
    from eembed_model.checkpoint import BUNDLED_CHECKPOINT, read_card

    try:
        config = read_card(BUNDLED_CHECKPOINT)["config"]
        return int(config["layers"]), int(config["v"])
    except (FileNotFoundError, KeyError, ValueError):
        return 4, 8


def intro_markdown(heads: int) -> str:
    """The tab's opening two sentences for a model with `heads` heads (= v bytes per material): the
    paper's claim, what to look at and how to read the result, before any run."""
    even = 100 / max(heads, 1)
    return (f"*Elementwise Language Representation* builds each word from {heads} per-byte embeddings side by side "
            f"and gives the model {heads} attention heads, so head *n* is meant to read each word's *n*-th character "
            f"(byte *n*). Run an example, then click a square of the layers x heads grid to open that head: beside it "
            f"is the share of its weight drawn from byte *n* — near {even:.1f} % (an even mix) it reads every byte "
            "and the *n*-th characters are a way to look at it, not what it reads; near 100 % it reads its own byte alone.")


def byte_grid_table(result: dict):
    """One row per material: its spelling and its v bytes (hex; ·· = filler), columns b0 … b(v-1):
    short, so eight of them fit a phone's width without a header broken inside a word."""
    import pandas as pd

    rows = []
    for material, grid in zip(result["materials"], result["byte_grids"]):
        cells = ["··" if byte == result.get("filler_byte", 0xFF) else f"{byte:02x}" for byte in grid]
        rows.append([visible_material(material), *cells])
    return pd.DataFrame(rows, columns=["material", *[f"b{n}" for n in range(result["v"])]])


def alignment_note(result: dict, layer: int) -> str:
    """What the weights say about "head n reads byte n" in this layer, in one sentence."""
    alignment = result.get("alignment") or {}
    if not alignment.get("applies"):
        return "This model has no byte slices, so its heads cannot line up with character positions."
    if alignment.get("aligned_first_layer") and layer == 0:
        return ("In this layer head *n*'s query, key and value are built from byte *n* alone "
                "(the aligned variant's block-diagonal first layer).")
    shares = [100 * x for x in alignment["own_byte_share"][layer]]
    return (f"Heads draw {min(shares):.0f}–{max(shares):.0f} % of their weight from byte *n* "
            f"(even mix {100 * alignment['uniform_share']:.1f} %): free to read every byte.")


def code_span(text: str) -> str:
    """`text` as a Markdown code span whatever it holds: the fence is one backtick longer than the
    longest run inside, and a space pads text that starts or ends with a backtick (CommonMark)."""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def summary_markdown(result: dict, layer: int) -> str:
    lines = [f"**Layer {layer}** — {alignment_note(result, layer)} Top materials by attention received:", ""]
    for row in result["per_head_summary"]:
        if row["layer"] != layer:
            continue
        tops = ", ".join(f"{code_span(visible_material(t['material']))} "
                         f"(n-th char {code_span(visible_material(t['nth_character']) or '·')}, "
                         f"{t['attention']:.2f})" for t in row["top_materials"])
        own = "" if row.get("own_byte_share") is None else f", reads byte {row['head']}: {100 * row['own_byte_share']:.0f} %"
        lines.append(f"- head {row['head']} (entropy {row['mean_entropy']:.2f}{own}): {tops}")
    return "\n".join(lines)


def input_notice(result: dict) -> str:
    """What the model read: its positions and width, long words spelled on, and a warning when part
    of the text is not in its input."""
    notice = (f"{len(result['materials'])} materials (with [CLS]/[SEP]), v = {result['v']} bytes each, "
              f"{result['layers']} layers x {result['heads']} heads.")
    words = result.get("word_index") or []
    spelled_on = len({w for i, w in enumerate(words) if w >= 0 and i and words[i - 1] == w})
    if spelled_on:
        notice += f" {spelled_on} word(s) longer than {result['v']} bytes are spelled over consecutive materials."
    if result.get("truncated"):
        cut_words = "a word longer than v bytes was cut (this model cuts long words), or " \
            if result.get("long_words") == "truncate" else ""
        notice += (f" ⚠️ Part of the text is not in the model's input: {cut_words}the text needs more than "
                   f"the model's {result.get('max_len', len(result['materials']))} positions.")
    return notice


def analyse_text(text: str, layer: float, head: float, progress=gr.Progress()):
    from eembed_model.attention import attention_for_text, check_encodable

    if text is None or not text.strip():
        raise gr.Error("The text is empty: type a sentence or a package description, or pick an example.")
    if len(text) > MAX_TEXT_CHARS:
        raise gr.Error(f"The text has {len(text)} characters; the viewer takes at most {MAX_TEXT_CHARS}.")
    try:
        check_encodable(text)
    except ValueError as exc:
        raise gr.Error(f"{str(exc)[0].upper()}{str(exc)[1:]}.") from None
    layer = number(layer, "The layer", 0, 1000, integer=True)
    head = number(head, "The head", 0, 1000, integer=True)
    progress(0.2, desc="Running the model")
    try:
        result = attention_for_text(text, attention_model())
    except ValueError:
        raise gr.Error("The attention viewer could not read this text; try a shorter or plainer one.") from None
    layer = min(int(layer), result["layers"] - 1)
    head = min(int(head), result["heads"] - 1)
    notice = input_notice(result)
    return (
        result,
        notice,
        byte_grid_table(result),
        attention_heatmap(result, layer, head),
        head_position_view(result, layer),
        summary_markdown(result, layer),
        gr.update(maximum=result["layers"] - 1, value=layer),
        gr.update(maximum=result["heads"] - 1, value=head),
    )


def redraw(result: dict | None, layer: float, head: float):
    """Layer/head changes redraw from the cached result without running the model again."""
    if not result:
        return gr.skip(), gr.skip(), gr.skip()
    layer = number(layer, "The layer", 0, 1000, integer=True)
    head = number(head, "The head", 0, 1000, integer=True)
    layer = min(int(layer), result["layers"] - 1)
    head = min(int(head), result["heads"] - 1)
    return attention_heatmap(result, layer, head), head_position_view(result, layer), summary_markdown(result, layer)


def fill_overview(result: dict | None):
    """The all-layers x all-heads thumbnails of a run (filled after it, so the /attention API keeps its outputs)."""
    if not result:
        return gr.skip()
    return gr.update(value=overview_thumbnails(result), columns=result["heads"], selected_index=None)


def open_thumbnail(result: dict | None, selected: gr.SelectData):
    """A click on the overview's thumbnail of (layer, head) sets both sliders and redraws that head."""
    if not result or selected is None or not isinstance(selected.index, int):
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    layer, head = overview_cell(selected.index, result["heads"])
    if layer >= result["layers"]:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    return (gr.update(value=layer), gr.update(value=head), attention_heatmap(result, layer, head),
            head_position_view(result, layer), summary_markdown(result, layer))


def build() -> None:
    result_state = gr.State(None)
    layers, heads = bundled_shape()
    gr.Markdown(intro_markdown(heads), elem_id="attention-intro", elem_classes="tab-intro")
    with gr.Row():
        with gr.Column(scale=2):
            text = gr.Textbox(label="Text", lines=2, value=EXAMPLE_TEXTS[0])
        with gr.Column(scale=1):
            layer = gr.Slider(0, layers - 1, value=0, step=1, label="Layer")
            head = gr.Slider(0, heads - 1, value=0, step=1, label="Head n (shown beside each material's n-th character)")
            run = gr.Button("Show attention", variant="primary")
    notice = gr.Markdown()
    # The gallery's own label floats over its first row; this line says what the grid holds instead.
    gr.Markdown("**All layers x heads** — rows: layers (L), columns: heads (H); each map is scaled to its own "
                "maximum. Click one to open it below (on a phone the grid scrolls sideways).",
                elem_classes="hint", elem_id="attention-overview-caption")
    # Each thumbnail keeps at least the gallery's 100 px column: on a phone the grid scrolls sideways.
    overview = gr.Gallery(label="All layers x heads", show_label=False, columns=heads, allow_preview=False, interactive=False,
                          object_fit="contain", height="auto",
                          format="png", buttons=[], elem_id="attention-overview")
    grid = gr.Dataframe(label="Materials and their byte grids (hex; column bn = byte n; ·· = filler)", interactive=False, wrap=True)
    with gr.Row():
        # min_width: on a phone the two plots stack, each at full width, instead of sharing 390 px.
        heatmap = gr.Plot(label="Material x material attention", min_width=420)
        positions = gr.Plot(label="Heads beside n-th characters", min_width=420)  # short: a phone's label is one line
    summary = gr.Markdown()
    outputs = [result_state, notice, grid, heatmap, positions, summary, layer, head]
    run.click(guarded(analyse_text), [text, layer, head], outputs, api_name="attention").success(
        guarded(fill_overview), [result_state], [overview], api_visibility="private")
    text.submit(guarded(analyse_text), [text, layer, head], outputs, api_name=False).success(
        guarded(fill_overview), [result_state], [overview], api_visibility="private")
    for control in (layer, head):
        control.release(guarded(redraw), [result_state, layer, head], [heatmap, positions, summary], api_name=False)
    overview.select(guarded(open_thumbnail), [result_state], [layer, head, heatmap, positions, summary],
                    api_visibility="private")
    examples = gr.Examples(examples=[[t] for t in EXAMPLE_TEXTS], inputs=[text], label="Examples: click one to run it")
    examples.load_input_event.then(guarded(analyse_text), [text, layer, head], outputs, api_visibility="undocumented").success(
        guarded(fill_overview), [result_state], [overview], api_visibility="private")
