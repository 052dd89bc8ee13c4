"""Training the reader: MNIST through TFDS, augmentation, handwriting styles, the simulated
scan path of a digit box, and the training loop."""
