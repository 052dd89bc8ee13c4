"""Front doors to scangrade: the HTTP service, the upload page and the command line."""
