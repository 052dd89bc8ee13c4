"""Reading digit crops: preprocessing to MNIST form, the CNN cascade, weights, JAX runtime."""
