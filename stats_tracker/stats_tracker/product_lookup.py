"""The product an API request names: unknown -> 400 "Invalid product Id" (spec), for every route."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import abort, current_app

if TYPE_CHECKING:
    from stats_tracker.products import Product

INVALID_PRODUCT = "Invalid product Id"


def requested_product(product_id: str) -> Product:
    """The configured product, or abort with 400 (a JSON `{"message"}` from the library)."""
    product: Product | None = current_app.config["STATS_PRODUCTS"].get(product_id)
    if product is None:
        abort(400, INVALID_PRODUCT)
    return product
