"""``print(net)``: layers, ports with shapes, and arrays with shapes."""

from __future__ import annotations

from ._shapes import fmt_shape

__all__ = ["summary"]


def _ports(module) -> str:
    ins = ", ".join(f"{p} {fmt_shape(module.port_shape(p))}" for p in module.input_names())
    outs = ", ".join(f"{p} {fmt_shape(module.port_shape(p))}" for p in module.output_names())
    return f"{ins} → {outs}"


def _arrays(layer) -> str:
    parts = []
    for name in layer.array_names:
        p = getattr(layer, name)
        state = "" if name not in layer._uninitialized else " uninitialized"
        parts.append(f"{name} {fmt_shape(tuple(p.shape)) if p is not None else '?'}{state}")
    return "; arrays: " + ", ".join(parts) if parts else ""


def _lines(module, indent: str) -> list[str]:
    from ..layers import Layer
    if isinstance(module, Layer):
        return [f"{indent}{module.config_text()}  {_ports(module)}{_arrays(module)}"]
    lines = [f"{indent}{type(module).__name__}  {_ports(module)}"]
    width = max(len(v) for v in module.vertex_names()) + 2
    for v in module.vertex_names():
        child = module.vertices[v]
        sub = _lines(child, "")
        label = f'"{v}"'.ljust(width)
        lines.append(f"{indent}  {label}  {sub[0]}")
        lines.extend(f"{indent}  {' ' * width}  {line}" for line in sub[1:])
    n = sum(p.numel() for p in module.parameters())
    lines.append(f"{indent}  ({len(module.vertex_names())} vertices, {n} learned numbers)")
    return lines


def summary(module) -> str:
    return "\n".join(_lines(module, ""))
