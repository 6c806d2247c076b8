"""Models of the paper: mask generator, renderer (and their blocks), text generator; presets."""
