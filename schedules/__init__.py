"""When things run: the beat table and the business calendar."""
