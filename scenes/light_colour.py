"""Colour of light by correlated colour temperature, so lamps are warm and daylight cool.

The table holds the sRGB colour of a black body at each temperature, normalised to its brightest
channel (values as tabulated from the CIE 1964 10-degree colour-matching functions in the
widely used black-body colour tables); between entries the linear colour is interpolated in
mired (1e6 / kelvin), the scale on which colour temperature differences look even.
"""
from __future__ import annotations

import numpy as np

# kelvin: sRGB (0-255), brightest channel 255.
_BLACKBODY_SRGB = {
    2000: (255, 137, 18), 2700: (255, 167, 87), 3000: (255, 180, 107), 3500: (255, 196, 137),
    4000: (255, 209, 163), 5000: (255, 228, 206), 5500: (255, 236, 224), 6500: (255, 249, 253),
    7500: (235, 238, 255), 9000: (214, 225, 255), 12000: (195, 209, 255),
}  # fmt: skip
_KELVIN = np.array(sorted(_BLACKBODY_SRGB), dtype=np.float64)
_LINEAR = (np.array([_BLACKBODY_SRGB[k] for k in sorted(_BLACKBODY_SRGB)], dtype=np.float64) / 255.0) ** 2.2

# Typical ranges (kelvin): warm-white to neutral lamps; daylight from low sun to overcast sky.
LAMPS = (2700.0, 4000.0)
DAYLIGHT = (5000.0, 7500.0)


# Share of a light's colour cast a camera's automatic white balance leaves in the picture.
CAST_AFTER_WHITE_BALANCE = 0.4


def light_colour(kelvin: float, cast: float = 1.0) -> tuple[float, float, float]:
    """Linear RGB (brightest channel 1) of light at `kelvin`, 2000-12000 K, with `cast` (0-1) of its
    difference from white kept (1: the light itself; CAST_AFTER_WHITE_BALANCE: as a camera sees it).
    A ValueError outside those ranges."""
    if not 0.0 <= float(cast) <= 1.0:
        raise ValueError(f"cast must be between 0 and 1, got {cast}")
    kelvin = float(kelvin)
    if not _KELVIN[0] <= kelvin <= _KELVIN[-1]:
        raise ValueError(f"colour temperature must be between {_KELVIN[0]:.0f} and {_KELVIN[-1]:.0f} K, got {kelvin}")
    mired = 1e6 / kelvin
    mireds = 1e6 / _KELVIN[::-1]  # increasing, as np.interp needs
    rgb = [np.interp(mired, mireds, _LINEAR[::-1, c]) for c in range(3)]
    peak = max(rgb)
    return tuple(float(1.0 - cast * (1.0 - c / peak)) for c in rgb)
