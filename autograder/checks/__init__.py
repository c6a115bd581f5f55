"""One file per module: its checks (``CHECKS``) and the known mistakes they catch."""

HIDDEN_WEIGHT = 3.0
"""The weight of a hidden case (a property weighs 1 unless it says otherwise).

Hidden cases are drawn to exercise the whole contract of a function (every rollout has an
episode end before its last step, every batch of ratios lands on both sides of the band),
so a wrong concept fails nearly all of them and loses most of the points; a property
isolates one edge (gamma 0, float64, a batch of one), and a slip there costs little. The
rule is stated on the conventions page."""

FACTORIES = frozenset(
    ["zeros", "ones", "empty", "full", "arange", "tensor", "rand", "randn", "randint", "eye"]
)


def factory_probe(ns, function: str, inputs: dict):
    """Call the function and list the tensors it made with a factory (``torch.zeros``,
    ``torch.tensor``, ...) without ``device=``: on a GPU those land on the CPU. A 0-d
    constant is allowed (PyTorch mixes it with tensors on any device); ``zeros_like``,
    ``x.new_zeros`` and ``device=x.device`` are what the conventions ask for."""
    import torch
    from torch.overrides import TorchFunctionMode

    class Factories(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[str] = set()

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            made = isinstance(out, torch.Tensor) and out.dim() > 0
            if made and name in FACTORIES and "device" not in kwargs:
                self.seen.add(f"torch.{name}")
            return out

    with Factories() as mode:
        getattr(ns, function)(*inputs.values())
    return {"factories_without_device": sorted(mode.seen)}


def on_the_inputs_device(received, inputs) -> str | None:
    """The predicate of :func:`factory_probe`."""
    made = received.get("factories_without_device") if isinstance(received, dict) else None
    if made:
        return (
            f"{', '.join(made)} without device=: on a GPU that tensor is made on the CPU; "
            "use torch.zeros_like(x), x.new_zeros(...) or device=x.device"
        )
    return None


def device_property(inputs, note: str, probe=factory_probe, what: str = "buffers"):
    """The property "makes its buffers on the inputs' device": ``probe`` (``factory_probe``
    or a wrapper that calls the function the way its check does) on ``inputs``, judged by
    :func:`on_the_inputs_device`. ``note`` says which factory call a student writes and
    what to write instead."""
    from autograder.core import Property

    return Property(
        f"makes its {what} on the inputs' device",
        inputs,
        note=note,
        probe=probe,
        predicate=on_the_inputs_device,
    )


def as_float64(value):
    """``value`` with its float tensors (in dicts, lists and tuples, at any depth) in
    float64; a tensor that requires grad stays a leaf that requires grad."""
    import torch

    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        return value.detach().double().requires_grad_(value.requires_grad)
    if isinstance(value, dict):
        return {k: as_float64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_float64(v) for v in value]
    if isinstance(value, tuple):
        return tuple(as_float64(v) for v in value)
    return value


def float64_property(inputs, note: str = "", name: str = "float64 inputs", **kwargs):
    """The property "keeps float64": ``inputs`` (a function that builds them) in float64,
    the output of the reference on them stored in the fixture file, compared with the
    float64 tolerances. A function that computes in float32 inside (``.float()``,
    ``torch.tensor(..., dtype=torch.float32)``, a float32 buffer) is off by about 1e-7
    there, or returns float32; ``kwargs`` go to :class:`~autograder.core.Property`
    (``probe=``)."""
    from autograder.core import FLOAT64_ATOL, FLOAT64_RTOL, Property
    from autograder.fixtures import stored_reference

    return Property(
        name,
        lambda: as_float64(inputs()),
        note=note
        or "the inputs of a caller that works in float64: the result is float64, to float64 "
        "precision (a float32 step inside is off by about 1e-7)",
        expect=stored_reference(),
        rtol=FLOAT64_RTOL,
        atol=FLOAT64_ATOL,
        **kwargs,
    )


def reference_property(name: str, inputs, note: str = "", **kwargs):
    """A property whose expected value is the reference's output on ``inputs`` (a function
    that builds them), stored in the fixture file: for an edge that the contract defines
    and the reference follows (a batch of one, a value exactly on a boundary, values far
    outside the usual range). ``kwargs`` go to :class:`~autograder.core.Property`."""
    from autograder.core import Property
    from autograder.fixtures import stored_reference

    return Property(name, inputs, note=note, expect=stored_reference(), **kwargs)


def batch_of_one_property(inputs, note: str = "", name: str = "a batch of one", **kwargs):
    """:func:`reference_property` on a batch of one (``B = 1``): ``.squeeze()`` turns a
    (1,) result into a 0-dim one, and a batch statistic of one sample is an edge."""
    return reference_property(
        name,
        inputs,
        note=note
        or "B = 1, as a last minibatch or a single environment gives: the result "
        "keeps its batch axis",
        **kwargs,
    )
