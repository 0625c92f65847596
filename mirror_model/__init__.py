"""Mirror depth: frozen CLIP + a learned static "mirror" prompt + a compact deconvolutional decoder.

Kept light on import: submodules load torch/open_clip/open3d only when used.
"""
