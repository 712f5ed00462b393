"""Search by image: a user's image → CLIP image embedding → the nearest atlas images.

The reference has no image query; the paper's shared text–image space makes it natural.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.contract import K_DEFAULT
from engine.models.base import ClipEncoder

from .results import ImageSearchResult, InvalidInput, Stopwatch, check_k
from .retrieval import Retriever


class ImageSearchPipeline:
    """Top-k atlas images for a query image."""

    def __init__(self, clip: ClipEncoder, retriever: Retriever) -> None:
        self.clip = clip
        self.retriever = retriever

    def __call__(
        self, image: Image.Image, *, k: int = K_DEFAULT, modality: str | None = None
    ) -> ImageSearchResult:
        """The k nearest distinct atlas images, best first."""
        watch = Stopwatch()
        # 1. Check inputs
        image = self.check_inputs(image, k)

        # 2. Encode the image with CLIP's image tower
        with watch("encode_image"):
            vector = np.asarray(self.clip.encode_images([image])[0], dtype=np.float32)

        # 3. Retrieve the nearest atlas images
        with watch("retrieve"):
            hits = self.retriever.top_k(vector, k, modality=modality)
        return ImageSearchResult(hits=hits, image_vector=vector, timings_ms=watch.total())

    def check_inputs(self, image: Image.Image, k: int) -> Image.Image:
        """The image as RGB; raises InvalidInput naming the bad argument."""
        if not isinstance(image, Image.Image):
            raise InvalidInput(f"image: expected a PIL image (got {type(image).__name__})")
        if image.width < 1 or image.height < 1:
            raise InvalidInput(f"image: empty ({image.width}×{image.height} pixels)")
        check_k(k)
        return image if image.mode == "RGB" else image.convert("RGB")
