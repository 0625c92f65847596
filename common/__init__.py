"""The bottom layer: arrays and files shared by every other package.

Image, depth and video reading and writing (one reader per format), the scene-folder format,
camera geometry and point clouds, depth metrics, size parsing, strict config fields and JSON
helpers. Imports nothing from the project.
"""
