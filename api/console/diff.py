"""Two versions of a program's rules compared field by field, for the console's diff page: a
pure function over the rules as JSON builtins, naming each field by its path into the rules as
``check_rules`` names the field it blames (``tiers[1].threshold_minor``,
``earning.category_bp["milk"]``)."""

from typing import Any, Literal

import msgspec

Kind = Literal["added", "removed", "changed"]


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    kind: Kind
    before: Any = None
    after: Any = None


def _key(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{msgspec.json.encode(key).decode()}]"


def differences(before: Any, after: Any, path: str = "") -> list[Difference]:
    """What changed from ``before`` to ``after`` (JSON builtins): keys and list items added or
    removed, and leaves changed; objects and lists are compared inside, a value of another
    kind is one change. In the order of the paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[Difference] = []
        for key in sorted(before.keys() | after.keys()):
            inner = _key(path, str(key))
            if key not in after:
                found.append(Difference(path=inner, kind="removed", before=before[key]))
            elif key not in before:
                found.append(Difference(path=inner, kind="added", after=after[key]))
            else:
                found.extend(differences(before[key], after[key], inner))
        return found
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        found = []
        for index in range(max(len(before), len(after))):
            inner = f"{path}[{index}]"
            if index >= len(after):
                found.append(Difference(path=inner, kind="removed", before=before[index]))
            elif index >= len(before):
                found.append(Difference(path=inner, kind="added", after=after[index]))
            else:
                found.extend(differences(before[index], after[index], inner))
        return found
    if before == after and type(before) is type(after):
        return []
    return [Difference(path=path or "$", kind="changed", before=before, after=after)]


def shown(value: Any) -> str:
    """A value as the diff page prints it: compact JSON."""
    return msgspec.json.encode(value).decode()
