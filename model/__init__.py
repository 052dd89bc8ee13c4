"""The digit reader: `model.inference` reads crops (the service and the CLI need only this);
`model.training` makes the weights in `model/weights/` from MNIST."""
