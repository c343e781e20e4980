"""The inspector: exact integer arithmetic on specs (no torch inside)."""

from cnnkit.inspect.geometry import output_size
from cnnkit.inspect.summary import Flow, LayerStats, Summary, block_input_shapes, summarize

__all__ = ["Flow", "LayerStats", "Summary", "block_input_shapes", "output_size", "summarize"]
