"""Ray casting a Scene with open3d: exact z-depth plus a Lambert-shaded, textured colour image with
point-light and sun shadows, and for open scenes a sky where rays miss."""
from __future__ import annotations

import numpy as np

from common.sizes import check_size

from .camera import camera_rays
from .frame import RGBDFrame
from .scene import Scene
from .textures import albedo

SHADOW_BIAS = 2e-3  # metres: shadow rays start off the surface so they do not hit it again


def build_raycaster(scene: Scene):
    """open3d RaycastingScene with one geometry per object, in the order of scene.objects."""
    import open3d as o3d

    if not scene.objects:
        raise ValueError("scene has no objects to render")
    raycaster = o3d.t.geometry.RaycastingScene()
    for index, obj in enumerate(scene.objects):
        geometry_id = raycaster.add_triangles(
            obj.mesh.vertices.astype(np.float32), obj.mesh.triangles.astype(np.uint32)
        )
        if geometry_id != index:  # materials are looked up by geometry id
            raise RuntimeError(f"unexpected open3d geometry id {geometry_id} for object {index}")
    return raycaster


def _raycaster(scene: Scene):
    if scene.raycaster is None:
        scene.raycaster = build_raycaster(scene)
    return scene.raycaster


def cast(scene: Scene, rays: np.ndarray) -> dict[str, np.ndarray]:
    """Cast (..., 6) float32 rays; returns t_hit (inf on a miss), geometry_ids, primitive_normals."""
    import open3d as o3d

    result = _raycaster(scene).cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, dtype=np.float32)))
    return {key: result[key].numpy() for key in ("t_hit", "geometry_ids", "primitive_normals")}


def _blocked(scene: Scene, points: np.ndarray, normals: np.ndarray, towards: np.ndarray, tfar: float) -> np.ndarray:
    """(N,) bool: is anything between each surface point and its light? `towards` (N, 3) are the
    shadow-ray directions and `tfar` how far along them the light is (in direction lengths)."""
    import open3d as o3d

    origins = points + normals * SHADOW_BIAS
    shadow_rays = np.concatenate([origins, towards], axis=1)
    return _raycaster(scene).test_occlusions(
        o3d.core.Tensor(shadow_rays.astype(np.float32)), tnear=0.0, tfar=tfar
    ).numpy()


def _ambient(scene: Scene, normals: np.ndarray) -> np.ndarray:
    """(N, 3) ambient light: uniform indoors; outdoors sky light, weaker on downward faces (they see
    the ground, which returns `ground_bounce` of it)."""
    ambient = np.broadcast_to(np.asarray(scene.ambient, dtype=np.float32), (3,))
    if scene.sky is None:
        return np.tile(ambient, (len(normals), 1))
    up = 0.5 + 0.5 * normals[:, 2]
    weight = up + scene.sky.ground_bounce * (1.0 - up)
    return (weight[:, None] * ambient).astype(np.float32)


def _irradiance(scene: Scene, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) light arriving at surface points: ambient + Lambert terms; point lights and
    directional lights with `shadows` are tested for occlusion with shadow rays."""
    total = _ambient(scene, normals)
    for light in scene.lights:
        intensity = np.asarray(light.intensity, dtype=np.float32)
        if light.kind == "directional":
            to_light = -np.asarray(light.direction, dtype=np.float64)
            to_light /= np.linalg.norm(to_light)
            lambert = np.clip(normals @ to_light, 0.0, None)
            if light.shadows:
                lit = np.flatnonzero(lambert > 0)
                if len(lit):
                    towards = np.broadcast_to(to_light, (len(lit), 3))
                    lambert[lit[_blocked(scene, points[lit], normals[lit], towards, float("inf"))]] = 0.0
            total += (lambert[:, None] * intensity).astype(np.float32)
            continue
        offset = np.asarray(light.position, dtype=np.float64) - points
        distance = np.linalg.norm(offset, axis=1)
        lambert = np.clip(np.einsum("ij,ij->i", normals, offset) / np.maximum(distance, 1e-9), 0.0, None)
        falloff = 1.0 / (1.0 + (distance / light.falloff_distance) ** 2)
        lit = np.flatnonzero(lambert > 0)
        if len(lit):
            towards = offset[lit] - normals[lit] * SHADOW_BIAS
            lambert[lit[_blocked(scene, points[lit], normals[lit], towards, 0.999)]] = 0.0
        total += ((lambert * falloff)[:, None] * intensity).astype(np.float32)
    return total


def _to_srgb8(linear: np.ndarray) -> np.ndarray:
    encoded = np.clip(linear, 0.0, 1.0) ** (1.0 / 2.2)
    return (encoded * 255.0 + 0.5).astype(np.uint8)


def render_view(scene: Scene, intrinsics: np.ndarray, pose: np.ndarray, size: tuple[int, int]) -> RGBDFrame:
    """Render `scene` from a pinhole camera (K, camera-to-world pose, (height, width)).

    Depth is z-depth along the optical axis in metres (0 where a ray hits nothing); colour is
    albedo x (ambient + lights), gamma-encoded. Rays that hit nothing are black, or show the scene's
    sky when it has one (their depth stays 0 and object id -1: see sky_mask). Any Scene works, so
    tests can pass their own geometry.
    """
    height, width = check_size(size)
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    pose = np.asarray(pose, dtype=np.float64)
    if intrinsics.shape != (3, 3) or pose.shape != (4, 4):
        raise ValueError(f"expected a 3x3 K and a 4x4 pose, got {intrinsics.shape} and {pose.shape}")
    rays = camera_rays(intrinsics, pose, (height, width)).reshape(-1, 6)
    hits = cast(scene, rays)
    t_hit = hits["t_hit"].astype(np.float64)
    hit = np.isfinite(t_hit)

    directions = rays[:, 3:].astype(np.float64)
    optical_axis = pose[:3, 2]
    # t is measured in ray-direction lengths; scaling by the direction's component along the optical
    # axis turns it into z-depth whatever the ray normalisation (it is 1 for camera_rays).
    depth = np.zeros(len(rays), dtype=np.float64)
    depth[hit] = t_hit[hit] * (directions[hit] @ optical_axis)

    object_ids = np.full(len(rays), -1, dtype=np.int16)
    object_ids[hit] = hits["geometry_ids"][hit].astype(np.int16)
    colour = np.zeros((len(rays), 3), dtype=np.float32)
    if hit.any():
        points = rays[hit, :3].astype(np.float64) + directions[hit] * t_hit[hit, None]
        normals = hits["primitive_normals"][hit].astype(np.float64)
        facing_away = np.einsum("ij,ij->i", normals, directions[hit]) > 0
        normals[facing_away] *= -1.0  # shade the side the camera sees, whatever the winding
        geometry_ids = hits["geometry_ids"][hit]
        surface = np.zeros((len(points), 3), dtype=np.float32)
        for geometry_id in np.unique(geometry_ids):
            mask = geometry_ids == geometry_id
            surface[mask] = albedo(scene.objects[int(geometry_id)].material, points[mask], normals[mask])
        colour[hit] = surface * _irradiance(scene, points, normals)
    if scene.sky is not None and not hit.all():
        colour[~hit] = scene.sky.radiance(directions[~hit])

    return RGBDFrame(
        rgb=_to_srgb8(colour).reshape(height, width, 3),
        depth=depth.astype(np.float32).reshape(height, width),
        intrinsics=intrinsics.copy(),
        pose=pose.copy(),
        object_ids=object_ids.reshape(height, width),
    )


def sky_mask(frame: RGBDFrame) -> np.ndarray:
    """(H, W) bool: the pixels whose ray hit nothing, i.e. the sky of an outdoor view.

    Convention: a sky pixel has depth 0 (invalid, like a missing LiDAR return) and object id -1.
    Frames read back from files carry no object ids; their depth-0 pixels are the same set, since
    every ray that hits geometry has a positive depth. Rooms are closed, so they have no sky pixels.
    """
    if frame.object_ids is not None:
        return frame.object_ids < 0
    return frame.depth <= 0


def depth_with_sky_at(frame: RGBDFrame, far: float) -> np.ndarray:
    """(H, W) float32 depth with sky pixels set to `far` metres (the split's cap), for training that
    treats the sky as "at the far limit" instead of ignoring it. Raises ValueError if far <= 0."""
    if not far > 0:
        raise ValueError(f"the far limit must be positive, got {far}")
    depth = frame.depth.astype(np.float32, copy=True)
    depth[sky_mask(frame)] = far
    return depth
