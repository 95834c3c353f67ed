"""Model prices: the table shipped in ``prices.json``, overridden per deployment.

The shipped prices are public list prices as of the file's ``_date`` and will drift; a
deployment's ``input_cost_per_token``, ``output_cost_per_token`` and
``cache_read_input_token_cost`` in config.yaml take precedence over them.
"""

from pllm.pricing.table import UNKNOWN_PRICE, Price, PriceTable

__all__ = ["UNKNOWN_PRICE", "Price", "PriceTable"]
