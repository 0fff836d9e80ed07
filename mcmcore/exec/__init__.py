"""Real execution: run a placed model as a pipeline of worker processes, and calibrate the cost model.

- :func:`run_pipeline` splits the exported program by a placement (:func:`split_program`), runs one stage per
  used device in its own process, passes activations through shared memory and measures throughput and latency;
- :func:`profile` times every op and the transfer between workers on this machine and returns the graph with
  measured ``latency`` and ``comm_time``.
"""
from mcmcore.exec.pipeline import PipelineError, PipelineMeasurement, StageTiming, run_pipeline
from mcmcore.exec.profiler import TransferFit, measure_transfer, profile
from mcmcore.exec.stages import DataflowOrderError, StagePlan, split_program

__all__ = ["run_pipeline", "PipelineMeasurement", "StageTiming", "PipelineError", "DataflowOrderError",
           "StagePlan", "split_program", "profile", "measure_transfer", "TransferFit"]
