"""Metrics and studies on arrays and files, shared by training, evaluation, the CLIs and the app.

- depth_metrics: the one implementation of AbsRel, SqRel, RMSE, RMSE log, log10, SILog, delta 1-3
- video_io, frames: decoding videos and procedural scene folders lazily; writing mp4
- flow, temporal_metrics, temporal: temporal consistency (flicker, OPW, drift, TAE); `python -m analysis.temporal`
- spatial: patch-grid blockiness and depth-boundary errors; `python -m analysis.spatial`
- ablation, attention, pointcloud: the mirror ablation study, attention statistics, point clouds
- plots: plotly and matplotlib figures of the results
"""
