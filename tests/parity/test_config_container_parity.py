"""``keras.utils.Config`` and course_lib's: the same script of operations gives the same results and errors."""
import copy
import json

import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity


def _outcome(action):
    try:
        return ("value", action())
    except Exception as error:  # the type and Keras's message are part of the behaviour
        return (type(error).__name__, str(error))


def _script(Config):
    config = Config(learning_rate=0.1, momentum=0.9)
    config.use_ema = True
    config["seed"] = 123
    steps = [
        lambda: (config.seed, config["learning_rate"], config.get("missing", "default"), config.get("momentum")),
        lambda: (list(config.keys()), list(config.values()), list(config.items())),
        lambda: (list(config), len(config), "seed" in config, "nothing" in config),
        lambda: (repr(config), json.loads(config.to_json()), config.as_dict()),
        lambda: config.seeds,  # a close key is suggested
        lambda: config.zzz,  # nothing close
        lambda: config["zzz"],
        lambda: config.as_dict() is config.as_dict(),
        lambda: (config.pop("use_ema"), config.pop("gone", "fallback"), list(config.keys())),
        lambda: (config.update({"a": 1}, b=2), sorted(config)),
        lambda: config.freeze(),
        lambda: config.frozen,
        lambda: setattr(config, "seed", 1),
        lambda: config.__setitem__("seed", 1),
        lambda: config.__delitem__("seed"),
        lambda: config.pop("seed"),
        lambda: config.update(seed=1),
        lambda: (config.seed, config.frozen),
        lambda: config.unfreeze(),
        lambda: (setattr(config, "seed", 7), config.seed, config["seed"]),
        lambda: (config.__delitem__("a"), list(config)),
        lambda: setattr(config, "frozen", True),  # a property of the class, not an entry
        lambda: (copy.deepcopy(config).as_dict(), config.frozen),
        lambda: Config().as_dict(),
    ]
    return [_outcome(step) for step in steps]


def test_config_behaves_as_keras_s_config_step_by_step():
    ours, theirs = _script(cl.utils.Config), _script(keras.utils.Config)
    for index, (mine, keras_s) in enumerate(zip(ours, theirs)):
        assert mine == keras_s, f"step {index}"
    assert ours[4] == ("AttributeError", "Unknown attribute: 'seeds'. Did you mean 'seed'?")
    assert ours[12][0] == "ValueError"
