"""Using a trained model: checkpoints, inputs, outputs."""
