"""The reader's classes: the digits 0-9, then "blank" (no digit in the box).

Light on purpose (no JAX): page results and grading index probabilities by these."""

DIGIT_CLASSES = 10  # classes 0..9 are the digits themselves
BLANK = 10  # the class index of "no digit"
NUM_CLASSES = DIGIT_CLASSES + 1
