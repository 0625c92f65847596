"""Procedural indoor RGB-D scenes rendered with open3d ray casting: exact metric depth, pinhole
intrinsics and camera poses, as stills (training/evaluation data) or camera-walk videos.

Names load lazily so that reading a dataset does not import open3d.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "RGBDFrame": "frame",
    "render_scene": "generate", "render_video": "generate", "scene_seed": "generate",
    "render_view": "render",
    "Scene": "scene", "Light": "scene",
    "SceneObject": "geometry", "Mesh": "geometry", "box": "geometry", "sphere": "geometry",
    "cylinder": "geometry", "quad": "geometry",
    "Material": "textures",
    "build_room": "room", "RoomConfig": "room",
    "sample_camera": "views", "camera_path": "views",
    "intrinsics_for": "camera", "look_at": "camera", "pose_from_angles": "camera", "parse_size": "camera",
    "write_scenes": "io", "write_video": "io", "read_rgbd_folder": "io", "iter_rgbd_folder": "io",
    "read_poses": "io", "read_intrinsics": "io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
