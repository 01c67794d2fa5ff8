"""Power analyzers and the maths of their samples; knows nothing of SSH, devices or LoadGen."""
