import jax.numpy as jnp
import numpy as np
import optax

from nail_jax import make_gradient_step


def test_sgd_step_on_quadratic():
    def loss(w, target):
        return jnp.sum((w - target) ** 2), {"w0": w[0]}

    step = make_gradient_step(loss, optax.sgd(0.1))
    w = jnp.array([1.0, -2.0])
    opt = optax.sgd(0.1).init(w)
    new_w, _, value, aux = step(w, opt, jnp.array([0.0, 0.0]))
    # grad = 2 w; w - 0.1 * 2 w = 0.8 w
    np.testing.assert_allclose(new_w, [0.8, -1.6])
    assert float(value) == 5.0 and float(aux["w0"]) == 1.0
