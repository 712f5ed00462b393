"""The tiny profile: a generated demo atlas and small local models of the real families (offline)."""
