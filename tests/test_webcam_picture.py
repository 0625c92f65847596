"""The live depth picture: the server sends the colour index as a grey JPEG, the page paints it
through the colour table (an SVG filter). Together they must show colorize_depth's colours."""
from __future__ import annotations

import base64
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

from common.depth_io import colorize_depth, colormap_lut, colour_index
from demos.webcam_tab import DEPTH_FILTER_ID, LIVE_TEMPLATE, colour_table_filter, jpeg_data_url

SVG = "{http://www.w3.org/2000/svg}"


def test_the_colour_index_is_what_colorize_depth_paints():
    depth = np.random.default_rng(1).uniform(0.3, 9.0, (60, 80)).astype(np.float32)
    depth[0, :4] = [0.0, np.nan, np.inf, -2.0]  # invalid: index 0, black in colorize_depth
    index, valid = colour_index(depth, 0.5, 8.0)
    assert index.dtype == np.uint8 and index.shape == depth.shape
    assert not valid[0, :4].any() and (index[0, :4] == 0).all()
    lut = colormap_lut("turbo")
    np.testing.assert_array_equal(lut[index][valid], colorize_depth(depth, 0.5, 8.0)[valid])
    near, far = np.unravel_index(np.argmin(np.where(valid, depth, np.inf)), depth.shape), np.unravel_index(
        np.argmax(np.where(valid, depth, -np.inf)), depth.shape)
    assert index[near] == 255 and index[far] == 0  # near is the table's warm end


def test_the_filter_maps_level_k_to_table_entry_k():
    """feComponentTransfer's table of n values spans [0, 1] in n - 1 steps: level k/255 is entry k."""
    svg = ET.fromstring(colour_table_filter("turbo"))
    filt = svg.find(f"{SVG}filter")
    assert filt.get("id") == DEPTH_FILTER_ID and filt.get("color-interpolation-filters") == "sRGB"
    lut = colormap_lut("turbo") / 255.0
    for channel, column in zip("RGB", range(3)):
        func = filt.find(f"{SVG}feComponentTransfer/{SVG}feFunc{channel}")
        values = np.array([float(v) for v in func.get("tableValues").split()])
        assert func.get("type") == "table" and len(values) == 256
        np.testing.assert_allclose(values, lut[:, column], atol=5e-5)


def test_the_template_holds_the_filter_and_no_picture():
    """The picture reaches the page through the <img>'s source only (the client's script), never the
    template; nothing in it is evaluated by Gradio's template engines (JS template, Handlebars)."""
    assert f'filter id="{DEPTH_FILTER_ID}"' in LIVE_TEMPLATE
    assert re.search(r'<img [^>]*class="live-depth"', LIVE_TEMPLATE)
    assert "${" not in LIVE_TEMPLATE and "{{" not in LIVE_TEMPLATE and "`" not in LIVE_TEMPLATE


def test_a_grey_index_round_trips_through_the_data_url_within_jpeg_error():
    index = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    url = jpeg_data_url(index)
    assert url.startswith("data:image/jpeg;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert back.mode == "L" and back.size == (256, 64)  # one channel: half a colour JPEG's bytes
    assert np.abs(np.asarray(back, dtype=int) - index).mean() < 2.0
