"""course_lib: Keras's layers, losses, optimizers and training loop, from scratch in NumPy."""
