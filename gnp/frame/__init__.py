"""The frame pipeline, in plain functions: the roster, each worker's outcome, the steps of
a frame (written once, and run either directly or as Prefect tasks by the frame flow),
and the frame's summary.
"""
