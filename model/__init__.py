"""The digit reader: CNN, TFDS input pipeline, training, evaluation, batched inference."""
