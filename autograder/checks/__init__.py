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
