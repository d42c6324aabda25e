"""Checks at public entry points: errors name the argument (and the expected shape)."""

from __future__ import annotations

from collections.abc import Sequence

import chex
import jax


def _fmt(shape: Sequence) -> str:
    parts = ["..." if d is Ellipsis else ("*" if d is None else str(d)) for d in shape]
    return "[" + ", ".join(parts) + "]"


def check_shape(x: jax.Array, expected: Sequence, name: str, floating: bool = False) -> None:
    """Asserts ``x.shape`` matches ``expected`` (``None``: any size, ``...``: any leading axes).

    With ``floating=True`` the dtype must also be a floating-point type.
    """
    chex.assert_shape(
        x, tuple(expected),
        custom_message=f"`{name}` must have shape {_fmt(expected)}, got {list(x.shape)}",
    )
    if floating:
        chex.assert_type(
            x, float, custom_message=f"`{name}` must be a floating-point array, got {x.dtype}"
        )


def check_same_leading(arrays: dict[str, jax.Array], n_axes: int) -> None:
    """Asserts the named arrays share their first ``n_axes`` axes (the batch axes)."""
    shapes = {k: list(v.shape[:n_axes]) for k, v in arrays.items()}
    chex.assert_equal_shape_prefix(
        list(arrays.values()), n_axes,
        custom_message=f"batch axes must agree, got leading shapes {shapes}",
    )


class ArgumentError(ValueError):
    """An invalid argument of a public function, worded with the argument's name.

    ``template`` is the message with ``{name}`` where each argument in ``arguments`` is
    named; ``str(e)`` puts the Python names there (or the wording given for one in
    ``python_names``), :meth:`worded` any other names: the CLI puts its flags there.
    """

    def __init__(self, template: str, *arguments: str, **python_names: str):
        self.template, self.arguments, self.python_names = template, arguments, python_names
        super().__init__(self.worded())

    def worded(self, names: dict[str, str] | None = None) -> str:
        """The message with ``names[argument]`` (default: the Python name) for each argument."""
        names = {**self.python_names, **(names or {})}
        message = self.template
        for argument in self.arguments:
            message = message.replace("{" + argument + "}", names.get(argument, argument))
        return message
