"""``keras.utils.Config``: a dict of named settings that also reads and writes them as attributes, and can be frozen.

As Keras's: ``config.seed = 1`` and ``config["seed"] = 1`` store the same
entry; ``keys()``, ``values()`` and ``items()`` follow insertion order while
iterating over the config itself gives the keys sorted; a frozen config
refuses every change (``ValueError``) until ``unfreeze()``; an unknown
attribute is an ``AttributeError`` that suggests the closest key. The names
the class itself defines (``keys``, ``freeze``...) stay its methods.
"""
import copy
import difflib
import json


class Config:
    """A dict-like container of named values, reachable as attributes too (Keras's ``keras.utils.Config``).

    Args:
        **kwargs: the first entries.
    """

    def __init__(self, **kwargs):
        object.__setattr__(self, "_values", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    def _is_own(self, name):
        """True for the object's own attributes and methods, which never become entries."""
        return name in ("_values", "_frozen") or hasattr(type(self), name)

    @property
    def frozen(self):
        """Whether the config refuses changes."""
        return self._frozen

    def freeze(self):
        """Refuse every later change (setting, deleting, ``pop``, ``update``) until :meth:`unfreeze`."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        object.__setattr__(self, "_frozen", False)

    def _check_not_frozen(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self):
        """A shallow copy of the entries as a plain dict."""
        return copy.copy(self._values)

    def to_json(self):
        return json.dumps(self._values)

    def keys(self):
        return self._values.keys()

    def values(self):
        return self._values.values()

    def items(self):
        return self._values.items()

    def get(self, keyname, value=None):
        return self._values.get(keyname, value)

    def pop(self, *args):
        self._check_not_frozen()
        return self._values.pop(*args)

    def update(self, *args, **kwargs):
        self._check_not_frozen()
        return self._values.update(*args, **kwargs)

    def __setattr__(self, name, value):
        if self._is_own(name):
            object.__setattr__(self, name, value)
            return
        self[name] = value

    def __getattr__(self, name):  # called only when normal lookup fails: an entry, or nothing
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        message = f"Unknown attribute: '{name}'."
        closest = difflib.get_close_matches(name, list(values), n=1, cutoff=0.7)
        if closest:
            message += f" Did you mean '{closest[0]}'?"
        raise AttributeError(message)

    def __setitem__(self, key, item):
        self._check_not_frozen()
        self._values[key] = item

    def __getitem__(self, key):
        return self._values[key]

    def __delitem__(self, key):
        self._check_not_frozen()
        del self._values[key]

    def __contains__(self, item):
        return item in self._values

    def __len__(self):
        return len(self._values)

    def __iter__(self):
        return iter(sorted(self._values))

    def __repr__(self):
        return f"<Config {self._values}>"
