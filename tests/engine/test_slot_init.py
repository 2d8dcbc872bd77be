"""slot_init: the engine's values keep the dataclass's constructor and stay frozen."""

import dataclasses
import inspect

import pytest

from policies.engine import model

VALUE_CLASSES = [
    value
    for value in vars(model).values()
    if isinstance(value, type)
    and dataclasses.is_dataclass(value)
    and value.__module__ == model.__name__
]


def test_every_frozen_value_of_the_model_uses_slot_init():
    assert len(VALUE_CLASSES) == 15
    for value in VALUE_CLASSES:
        assert value.__init__.__qualname__ == f"{value.__qualname__}.__init__"
        assert value.__dataclass_params__.frozen


@pytest.mark.parametrize("value", VALUE_CLASSES, ids=lambda value: value.__name__)
def test_the_constructor_has_the_fields_in_order_with_their_defaults(value):
    parameters = list(inspect.signature(value).parameters.values())
    fields = dataclasses.fields(value)
    assert [parameter.name for parameter in parameters] == [field.name for field in fields]
    assert [parameter.default for parameter in parameters] == [
        inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        for field in fields
    ]


@pytest.mark.parametrize("value", VALUE_CLASSES, ids=lambda value: value.__name__)
def test_positional_and_keyword_construction_agree_and_the_value_stays_frozen(value):
    fields = dataclasses.fields(value)
    arguments = [f"value of {field.name}" for field in fields]
    by_position = value(*arguments)
    by_keyword = value(**{field.name: argument for field, argument in zip(fields, arguments)})
    assert by_position == by_keyword
    assert [getattr(by_position, field.name) for field in fields] == arguments
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(by_position, fields[0].name, "changed")
    with pytest.raises(TypeError):
        value(*arguments, "one too many")


def test_defaults_apply_when_omitted():
    finding = model.Finding("CODE", model.Severity.INFO, "ns", "name", "Kind", "message")
    assert finding.affects == ()
