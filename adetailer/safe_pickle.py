"""Check a pickle against an allow-list before any of it runs, then unpickle only what was checked.

Unpickling is a small program: GLOBAL fetches any object by name, REDUCE calls it with arguments
the file chooses, BUILD hands state to `__setstate__`. An allow-list of globals alone is not
enough, because an allowed class can be *called* with hostile arguments (a loader class given a
second file or a URL). So the opcodes are walked first, with a model of the unpickler's stack
and memo, and the file is refused unless every global is used in one of three ways:

- the class of a NEWOBJ (`cls.__new__(cls)`, no constructor runs), from `rebuildable`;
  real model files rebuild every module this way, then fill it with BUILD;
- the callable of a REDUCE, from `callable`: a short list of plain containers and torch's
  tensor rebuild functions, whose calls only store what they are given;
- a plain value (`data`), e.g. the storage types torch names in its tensor references.

A class or function that would end up anywhere else (in a dict, a tuple, an attribute, as the
object of a BUILD) could be called later by code that trusts the loaded model, so that is refused
too. Opcodes that the files we read never contain (INST, OBJ, extensions, out-of-band buffers,
text persistent ids) are refused outright.

`RestrictedUnpickler` then unpickles the same bytes with a `find_class` that hands out only the
allowed objects: a second line of defence, and the place where a few callables are swapped for
stricter versions (see `Policy.replacements`).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The walk is pure Python for tens of ms on a real model, and a thread waiting for the GIL (a
# cached detect back from a system call) would wait a whole switch interval (5 ms) each time:
# so the walk lets go of the GIL now and then.
_YIELD_EVERY = 256  # opcodes; a real yolov8s pickle has about 37 000


class PickleRefusedError(Exception):
    """The pickle does something the policy does not allow; nothing of it was run."""


class PickleDamagedError(Exception):
    """The bytes are not a complete, well-formed pickle."""


@dataclass(frozen=True)
class Policy:
    """What a pickle may name, and how each name may be used. Names are canonical
    (`module.qualname`), after `rename` has mapped old spellings to where things live now."""

    rebuildable: frozenset[str]
    callable: frozenset[str]
    data: frozenset[str] = frozenset()
    # (class, attribute) pairs that `builtins.getattr` may fetch: ultralytics 8.0 segmentation
    # heads kept `Detect.forward` as an attribute, pickled as getattr(Detect, "forward")
    attributes: frozenset[tuple[str, str]] = frozenset()
    rename: Callable[[str], str] | None = None
    # name -> the object find_class returns for it instead of importing it (a stricter version)
    replacements: Mapping[str, Any] = field(default_factory=dict)

    def canonical(self, name: str) -> str:
        return self.rename(name) if self.rename is not None else name

    def allowed(self, name: str) -> bool:
        return (
            name in self.rebuildable
            or name in self.callable
            or name in self.data
            or any(name == owner for owner, _ in self.attributes)
        )


# Stack entries of the model: a global (its canonical name), a string (for STACK_GLOBAL), a mark,
# or any other value.
@dataclass(frozen=True)
class _Global:
    name: str


@dataclass(frozen=True)
class _Text:
    value: str


@dataclass(frozen=True)
class _Attribute:
    """The pair (allowed global, attribute name), only ever consumed by `builtins.getattr`."""

    owner: str
    name: str


GETATTR = "builtins.getattr"
_MARK = object()
_VALUE = object()

_TEXT_OPCODES = frozenset(
    {
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
    }
)
_REFUSED_OPCODES = {
    "INST": "it calls a class with INST",
    "OBJ": "it calls a class with OBJ",
    "EXT1": "it uses the copyreg extension registry",
    "EXT2": "it uses the copyreg extension registry",
    "EXT4": "it uses the copyreg extension registry",
    "NEXT_BUFFER": "it uses out-of-band buffers",
    "READONLY_BUFFER": "it uses out-of-band buffers",
    "PERSID": "it uses a text persistent id",
}
_PASS_OPCODES = frozenset({"PROTO", "FRAME", "STOP", "PUT", "BINPUT", "LONG_BINPUT"})


def verify(data: bytes, policy: Policy) -> None:
    """Raise PickleRefusedError (naming the global or the call) or PickleDamagedError; return if safe."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop() -> Any:
        if not stack:
            raise PickleDamagedError("the pickle pops from an empty stack")
        return stack.pop()

    def pop_to_mark() -> list[Any]:
        items: list[Any] = []
        while True:
            item = pop()
            if item is _MARK:
                return items
            items.append(item)

    def as_value(item: Any, why: str) -> None:
        """`item` is used as plain data: a class or function there could be called later."""
        if isinstance(item, _Global) and item.name not in policy.data:
            raise PickleRefusedError(f"it passes {item.name} {why}, where only data is allowed")
        if isinstance(item, _Attribute):
            raise PickleRefusedError(f"it passes {item.owner} {why}, where only data is allowed")

    def use_as_values(items: list[Any], why: str) -> None:
        for item in items:
            if item is _MARK:
                raise PickleDamagedError("a mark is used as a value")
            as_value(item, why)

    try:
        for count, (opcode, arg, _position) in enumerate(pickletools.genops(data), 1):
            if count % _YIELD_EVERY == 0:
                time.sleep(0)
            name = opcode.name
            if name in _REFUSED_OPCODES:
                raise PickleRefusedError(_REFUSED_OPCODES[name])
            if name in _PASS_OPCODES:
                if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    if not stack:
                        raise PickleDamagedError("the pickle memoizes an empty stack")
                    memo[arg] = stack[-1]
                elif name == "STOP":
                    use_as_values([pop()], "as the loaded result")
                continue
            if name == "MEMOIZE":
                if not stack:
                    raise PickleDamagedError("the pickle memoizes an empty stack")
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if arg not in memo:
                    raise PickleDamagedError(
                        f"the pickle reads memo entry {arg}, which was never set"
                    )
                stack.append(memo[arg])
            elif name == "MARK":
                stack.append(_MARK)
            elif name in _TEXT_OPCODES:
                stack.append(_Text(arg) if isinstance(arg, str) else _VALUE)
            elif name == "GLOBAL":
                module, _, attribute = arg.partition(" ")
                stack.append(_global(policy, module, attribute))
            elif name == "STACK_GLOBAL":
                attribute, module = pop(), pop()
                if not isinstance(module, _Text) or not isinstance(attribute, _Text):
                    raise PickleRefusedError(
                        "it builds a global name from values that are not text"
                    )
                stack.append(_global(policy, module.value, attribute.value))
            elif name == "TUPLE2" and _is_attribute_pair(stack, policy):
                attribute, owner = pop(), pop()
                stack.append(_Attribute(owner.name, attribute.value))
            elif name == "REDUCE":
                arguments, function = pop(), pop()
                if isinstance(function, _Global) and function.name == GETATTR:
                    if not isinstance(arguments, _Attribute):
                        raise PickleRefusedError(f"it calls {GETATTR} on something not allowed")
                    stack.append(_VALUE)
                    continue
                as_value(arguments, "as an argument")
                if not isinstance(function, _Global):
                    raise PickleRefusedError("it calls an object that is not a named global")
                if function.name not in policy.callable:
                    raise PickleRefusedError(f"it calls {function.name}")
                stack.append(_VALUE)
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                if name == "NEWOBJ_EX":
                    as_value(pop(), "as an argument")
                arguments, cls = pop(), pop()
                as_value(arguments, "as an argument")
                if not isinstance(cls, _Global) or cls.name not in policy.rebuildable:
                    shown = cls.name if isinstance(cls, _Global) else "an object"
                    raise PickleRefusedError(
                        f"it creates {shown} with NEWOBJ, which is not allowed"
                    )
                stack.append(_VALUE)
            elif name == "BUILD":
                state, target = pop(), pop()
                as_value(state, "as an object's state")
                as_value(target, "as the object of a BUILD")
                stack.append(target)
            elif name == "DUP":
                if not stack:
                    raise PickleDamagedError("the pickle duplicates an empty stack")
                stack.append(stack[-1])
            elif name == "BINPERSID":
                as_value(pop(), "as a persistent id")
                stack.append(_VALUE)
            elif pickletools.markobject in opcode.stack_before:
                items = pop_to_mark()
                before = [s for s in opcode.stack_before if s is not pickletools.stackslice]
                # the container below the mark (APPENDS, SETITEMS, ADDITEMS) stays in place
                below = before.index(pickletools.markobject)
                use_as_values(items + [pop() for _ in range(below)], "inside a container")
                stack.extend(_VALUE for _ in opcode.stack_after)
            else:
                use_as_values([pop() for _ in opcode.stack_before], "inside a container")
                stack.extend(_VALUE for _ in opcode.stack_after)
    except (ValueError, IndexError) as error:  # pickletools on truncated or unknown opcodes
        raise PickleDamagedError(str(error)) from None


def _is_attribute_pair(stack: list[Any], policy: Policy) -> bool:
    if len(stack) < 2:
        return False
    owner, attribute = stack[-2], stack[-1]
    return (
        isinstance(owner, _Global)
        and isinstance(attribute, _Text)
        and (owner.name, attribute.value) in policy.attributes
    )


def _global(policy: Policy, module: str, attribute: str) -> _Global:
    name = policy.canonical(f"{module}.{attribute}")
    if not policy.allowed(name):
        shown = f"{module}.{attribute}"
        raise PickleRefusedError(f"it names {shown}, which is not allowed")
    return _Global(name)


def restricted_unpickler(
    data: bytes, policy: Policy, resolve: Callable[[str], Any]
) -> type[pickle.Unpickler]:
    """An Unpickler class for torch.load's `pickle_module`: it unpickles `data` (already
    verified) and nothing else, and its `find_class` returns only allowed objects.

    torch reads the pickle from the zip itself and passes it in; the bytes are compared with the
    verified ones, so a zip that holds two different pickles cannot swap one in after the check.
    `resolve` imports an allowed canonical name.
    """

    class RestrictedUnpickler(pickle.Unpickler):
        def __init__(self, file: Any, *args: Any, **kwargs: Any) -> None:
            if file.read() != data:
                raise PickleRefusedError(
                    "the pickle read for loading is not the one that was checked"
                )
            super().__init__(io.BytesIO(data), *args, **kwargs)

        def find_class(self, module: str, name: str) -> Any:
            canonical = policy.canonical(f"{module}.{name}")
            if not policy.allowed(canonical):
                raise PickleRefusedError(f"it names {module}.{name}, which is not allowed")
            if canonical in policy.replacements:
                return policy.replacements[canonical]
            return resolve(canonical)

    return RestrictedUnpickler
