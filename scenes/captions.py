"""What a rendered view shows, in facts and in words: the scene graph's account of every visible
object (kind, colour, texture, share of the image, region, median distance) and deterministic
captions with distance language built from those facts.

Distance words follow the ordered vocabulary DepthCLIP uses for depth ("extremely close", "close",
"not in distance", "a little remote", "far"), so a text encoder trained on these captions has met
the words a zero-shot depth head asks about. Every caption is a function of the facts and a seed.
"""
from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass

import numpy as np

from .frame import RGBDFrame
from .scene import Scene

# Scene-object names (room.py, outdoor.py) -> the words captions use; names not listed are used as they are.
KIND_WORDS = {
    "sphere": "ball", "cylinder": "column", "ball": "small ball", "item": "book", "pot": "flower pot",
    "mattress": "bed", "door frame": "door", "window frame": "window",
    "face": "person", "tree trunk": "tree", "wheel": "car", "road marking": "road",
}  # fmt: skip
SHELL = ("floor", "ceiling", "wall", "road", "pavement", "grass", "ground")  # surfaces, not things
# Upper bounds (metres) of each distance word, nearest first.
DISTANCE_WORDS = (
    (1.25, "extremely close"),
    (2.0, "close"),
    (3.0, "not in distance"),
    (4.5, "a little remote"),
    (float("inf"), "far"),
)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
MIN_SHARE = 0.005  # objects covering less of the image are not mentioned


@dataclass(frozen=True)
class VisibleObject:
    object_id: int
    kind: str  # caption word: "sofa", "wall", "floor", ...
    colour: str
    texture: str
    share: float  # of the image's pixels
    horizontal: str  # "left", "centre", "right"
    vertical: str  # "top", "middle", "bottom"
    distance_m: float  # median z-depth of its pixels
    box: tuple[int, int, int, int]  # top, left, bottom, right (pixels, exclusive end)


@dataclass(frozen=True)
class ViewFacts:
    objects: tuple[VisibleObject, ...]  # largest first
    room_size_m: tuple[float, float, float]  # width, length, height (zeros outdoors)
    camera_height_m: float
    setting: str = "room"  # the scene's kind: "room" or "outdoor"

    def to_dict(self) -> dict:
        return asdict(self)


def colour_name(linear_rgb: tuple[float, float, float]) -> str:
    """A basic colour word for a linear-RGB colour (judged in display space, as people see it)."""
    r, g, b = (float(c) ** (1 / 2.2) for c in linear_rgb)
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    if val < 0.2:
        return "black"
    if sat < 0.15:
        return "white" if val > 0.8 else "grey"
    if 0.04 <= hue < 0.11 and val < 0.6:
        return "brown"
    bounds = ((0.04, "red"), (0.11, "orange"), (0.18, "yellow"), (0.45, "green"), (0.52, "teal"), (0.70, "blue"),
              (0.83, "purple"), (0.95, "pink"), (1.01, "red"))  # fmt: skip
    return next(name for limit, name in bounds if hue < limit)


def distance_word(metres: float) -> str:
    return next(word for limit, word in DISTANCE_WORDS if metres < limit)


def metres_phrase(metres: float) -> str:
    """'about two metres away', 'about half a metre away', 'about two and a half metres away';
    beyond ten metres in digits, to the metre up to 20 and to 5 metres beyond ('about 35 metres away')."""
    if metres >= 10.25:
        rounded = int(round(metres)) if metres < 20 else 5 * int(round(metres / 5))
        return f"about {rounded} metres away"
    halves = max(1, int(round(metres * 2)))
    whole, half = divmod(halves, 2)
    if whole == 0:
        return "about half a metre away"
    number = NUMBER_WORDS[min(whole, 10)]
    unit = "metre" if whole == 1 and not half else "metres"
    return f"about {number}{' and a half' if half else ''} {unit} away"


def article(phrase: str) -> str:
    """'a green sofa', 'an orange table'."""
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _kind_of(name: str) -> str:
    return "wall" if name.startswith("wall") else KIND_WORDS.get(name, name)


def describe_view(scene: Scene, frame: RGBDFrame) -> ViewFacts:
    """The facts of one rendered view, from its per-pixel object ids and depth."""
    if frame.object_ids is None:
        raise ValueError("the frame has no object ids; render it with scenes.render.render_view")
    ids, depth = frame.object_ids, frame.depth
    height, width = ids.shape
    total = float(ids.size)
    objects = []
    for object_id, count in zip(*np.unique(ids[ids >= 0], return_counts=True)):
        share = count / total
        if share < MIN_SHARE:
            continue
        obj = scene.objects[int(object_id)]
        rows, cols = np.nonzero(ids == object_id)
        cy, cx = rows.mean() / height, cols.mean() / width
        objects.append(VisibleObject(
            object_id=int(object_id), kind=_kind_of(obj.name), colour=colour_name(obj.material.color_a),
            texture=obj.material.texture_word, share=float(share),
            horizontal="left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre",
            vertical="top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle",
            distance_m=float(np.median(depth[rows, cols])),
            box=(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1),
        ))  # fmt: skip
    objects.sort(key=lambda o: -o.share)
    room = scene.room or (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    size = (room[3] - room[0], room[4] - room[1], room[5] - room[2])
    return ViewFacts(tuple(objects), tuple(float(v) for v in size), float(frame.pose[2, 3]), scene.kind)


# ---------------------------------------------------------------- words

def object_phrase(obj: VisibleObject, rng: np.random.Generator, where: bool = True) -> str:
    """'a green striped sofa close to the camera on the left', in one of several forms."""
    adjectives = obj.colour if rng.random() < 0.6 or obj.texture == "plain" else f"{obj.colour} {obj.texture}"
    name = f"{adjectives} {obj.kind}"
    place = {"left": "on the left", "right": "on the right", "centre": "in the middle"}[obj.horizontal]
    form = int(rng.integers(3))
    if form == 0:
        word = distance_word(obj.distance_m)
        text = f"{article(name)} {word} to the camera" if word in ("extremely close", "close") else f"{article(name)} {word}"
    elif form == 1:
        text = f"{article(name)} {metres_phrase(obj.distance_m)}"
    else:
        text = f"{article(name)}, {distance_word(obj.distance_m)}"
    return f"{text} {place}" if where else text


def _room_phrase(facts: ViewFacts, rng: np.random.Generator) -> str | None:
    walls = [o for o in facts.objects if o.kind == "wall"]
    floors = [o for o in facts.objects if o.kind == "floor"]
    choices = []
    if walls:
        far_wall = max(walls, key=lambda o: o.distance_m)
        choices.append(f"the far wall is {far_wall.texture} and {far_wall.colour}, {metres_phrase(far_wall.distance_m)}")
    if floors:
        choices.append(article(f"{floors[0].texture} {floors[0].colour} floor"))
    height = metres_phrase(facts.camera_height_m).replace(" away", "")
    if facts.setting == "outdoor":
        streets = [o for o in facts.objects if o.kind in ("road", "pavement")]
        choices.append(f"{'a street' if streets else 'an open place'} seen from {height} up")
    else:
        width, length, _ = facts.room_size_m
        area = width * length
        size = "small" if area < 16 else "large" if area > 30 else "medium-sized"
        choices.append(f"{article(size)} room seen from {height} up")
    return choices[int(rng.integers(len(choices)))] if choices else None


def _comparison(facts: ViewFacts, rng: np.random.Generator) -> str | None:
    things = [o for o in facts.objects if o.kind not in SHELL]
    if len(things) < 2:
        return None
    first, second = (things[i] for i in rng.choice(len(things), size=2, replace=False))
    if abs(first.distance_m - second.distance_m) < 0.5:
        return None
    if (first.colour, first.kind) == (second.colour, second.kind):
        return None  # "the yellow chair is farther away than the yellow chair" names no difference
    near, far = sorted((first, second), key=lambda o: o.distance_m)
    if rng.random() < 0.5:
        return f"the {near.colour} {near.kind} is nearer than the {far.colour} {far.kind}"
    return f"the {far.colour} {far.kind} is farther away than the {near.colour} {near.kind}"


def view_caption(facts: ViewFacts, seed: int) -> str:
    """A caption of the whole view: its most visible things with their distances, and the room."""
    rng = np.random.default_rng(seed)
    things = [o for o in facts.objects if o.kind not in SHELL]
    parts = [object_phrase(o, rng) for o in things[: int(rng.integers(1, 3))]]
    extra = _comparison(facts, rng) if rng.random() < 0.5 else _room_phrase(facts, rng)
    if extra:
        parts.append(extra)
    if not parts:
        parts = [_room_phrase(facts, rng) or "an empty room"]
    return "; ".join(parts)


def region_caption(obj: VisibleObject, seed: int) -> str:
    """A caption of a crop around one object (so patches, not only whole views, meet words)."""
    rng = np.random.default_rng(seed)
    form = int(rng.integers(3))
    if form == 0:
        return f"this {obj.kind} is {distance_word(obj.distance_m)}"
    if form == 1:
        return f"{article(f'{obj.texture} {obj.colour} {obj.kind}')} {metres_phrase(obj.distance_m)}"
    return object_phrase(obj, rng, where=False)


def region_box(obj: VisibleObject, size: tuple[int, int], aspect: float, margin: float = 0.25) -> tuple[int, int, int, int]:
    """A box (top, left, bottom, right) around the object, `margin` larger on each side, with the
    width/height ratio `aspect` (so it renders at the dataset's size undistorted), inside the image."""
    height, width = size
    top, left, bottom, right = obj.box
    box_h, box_w = (bottom - top) * (1 + 2 * margin), (right - left) * (1 + 2 * margin)
    box_h, box_w = max(box_h, box_w / aspect, height / 4), max(box_w, box_h * aspect, width / 4)
    box_h, box_w = min(box_h, height), min(box_w, width)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    t = int(round(min(max(cy - box_h / 2, 0), height - box_h)))
    lft = int(round(min(max(cx - box_w / 2, 0), width - box_w)))
    return t, lft, t + int(round(box_h)), lft + int(round(box_w))
