"""Daylight for open scenes: a sun (a directional light with shadows) coloured by its colour
temperature, sky light as a coloured ambient term, and the sky rays that miss everything see."""
from __future__ import annotations

import math

import numpy as np

from .light_colour import light_colour
from .scene import Light, Sky

CONDITIONS = (("morning", 0.2), ("noon", 0.4), ("evening", 0.2), ("overcast", 0.2))


def daylight(rng: np.random.Generator) -> tuple[list[Light], tuple[float, float, float], Sky]:
    """Sun, sky light and sky for a morning, noon, evening or overcast day.

    Sun colours follow the colour temperature of a black body (scenes.light_colour: warm low sun,
    near-white noon);
    overcast days have a weak fill light without shadows and a bright grey sky.
    """
    names, weights = zip(*CONDITIONS)
    condition = str(rng.choice(names, p=np.asarray(weights) / sum(weights)))
    azimuth = float(rng.uniform(0.0, 2 * math.pi))
    if condition == "overcast":
        elevation, kelvin = math.radians(rng.uniform(45.0, 80.0)), float(rng.uniform(6500.0, 7500.0))
        grey = float(rng.uniform(0.5, 0.75))
        zenith = tuple(grey * c for c in (0.92, 0.95, 1.0))
        horizon = tuple(min(1.0, grey * 1.15) * c for c in (0.97, 0.98, 1.0))
        sky = Sky(zenith, horizon, sun_glow=0.0, cloud_cover=float(rng.uniform(0.85, 1.0)),
                  cloud_colour=tuple(grey * 1.05 * c for c in (1.0, 1.0, 1.02)), seed=int(rng.integers(1 << 30)))
        sun, shadows = float(rng.uniform(0.15, 0.3)), False
        ambient_level = float(rng.uniform(0.6, 0.85))
    else:
        low = condition != "noon"
        elevation = math.radians(rng.uniform(8.0, 25.0) if low else rng.uniform(35.0, 75.0))
        kelvin = float(rng.uniform(3000.0, 4500.0) if low else rng.uniform(5200.0, 6200.0))
        if condition == "morning":
            kelvin += 400.0  # morning light is a little cooler than evening light at the same height
        sun_colour = light_colour(kelvin)
        zenith = (0.06, 0.16, 0.5) if low else (0.08, 0.2, 0.58)
        horizon = tuple(0.55 * c + 0.4 * s for c, s in zip((0.6, 0.7, 0.85), sun_colour)) if low else (0.55, 0.66, 0.82)
        jitter = rng.uniform(0.85, 1.1, size=3)
        zenith = tuple(float(c * j) for c, j in zip(zenith, jitter))
        sun_direction = (math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth), math.sin(elevation))
        sky = Sky(zenith, horizon, sun_direction, sun_colour, sun_glow=float(rng.uniform(0.3, 0.8)),
                  cloud_cover=float(rng.uniform(0.0, 0.6)), cloud_colour=(0.9, 0.9, 0.92), seed=int(rng.integers(1 << 30)))
        sun, shadows = float(rng.uniform(1.0, 1.3) if low else rng.uniform(1.1, 1.4)), True
        ambient_level = float(rng.uniform(0.25, 0.38))
    sun_rgb = light_colour(kelvin)
    direction = (-math.cos(elevation) * math.cos(azimuth), -math.cos(elevation) * math.sin(azimuth), -math.sin(elevation))
    lights = [Light("directional", tuple(sun * c for c in sun_rgb), direction=direction, shadows=shadows)]
    sky_tint = np.asarray(sky.zenith) * 0.5 + np.asarray(sky.horizon) * 0.5
    ambient = ambient_level * (0.5 + 0.5 * sky_tint / sky_tint.mean())
    return lights, tuple(float(a) for a in ambient), sky
