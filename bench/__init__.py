"""transfer-bench: a benchmark harness for transfer learning under domain shift.

Data flow: suite (YAML) -> cells -> runner -> (data, backbone, strategy, measurement) -> results
(Parquet) -> report.
"""
__version__ = "0.1.0"
