"""Plain stochastic gradient descent on a dictionary of parameters."""
import numbers

from course_lib import backend


def sgd_step(params, grads, learning_rate):
    """One SGD update, ``param -= learning_rate * grad``, for every parameter.

    The arrays in ``params`` are changed in place, so any layer or cache holding
    a reference to them sees the new values.

    Args:
        params: dict name -> float array (e.g. ``{'W1': (64, 32), 'b1': (32,)}``).
        grads: dict with the same names and shapes as ``params``.
        learning_rate: positive float.

    Returns:
        None.
    """
    if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool) \
            or not learning_rate > 0:
        raise ValueError(
            f"sgd_step: learning_rate must be a positive number. Received: learning_rate={learning_rate!r}"
        )
    if set(params) != set(grads):
        raise ValueError(
            "sgd_step: grads must have the same names as params. "
            f"Received: params {sorted(params)}, grads {sorted(grads)}"
        )
    for name, param in params.items():
        grad = backend.xp.asarray(grads[name])
        if grad.shape != param.shape:
            raise ValueError(
                f"sgd_step: grads[{name!r}] must have shape {param.shape}. Received: {grad.shape}"
            )
        param -= learning_rate * grad
