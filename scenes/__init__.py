"""Procedural indoor RGB-D scenes rendered with open3d ray casting: exact metric depth, pinhole
intrinsics and camera poses, as stills (training and evaluation data) or camera-walk videos.

A data source, not a model: `python -m scenes` writes scene folders (common.scene_folder).
Import what you need from the modules: generate (render_scene, render_video), io (write_scenes,
write_video), room, views, render, camera, geometry, textures.
"""
