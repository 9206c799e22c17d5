"""A small GraphQL reader: enough of the language to serve PhishER's message query.

Supports one operation per request (anonymous or `query Name(...)`), variable
definitions with defaults, aliases, arguments of every literal kind, and nested
selection sets. Fragments, directives and mutations are reported as errors, which is
what a client of this simulator should learn about early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class GraphQLError(Exception):
    """A request the server answers with a GraphQL `errors` entry."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.line is not None:
            body["locations"] = [{"line": self.line, "column": self.column}]
        return body


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass(frozen=True)
class Field:
    name: str
    alias: str | None
    arguments: Mapping[str, Any]  # literal values, Variable, lists and dicts of them
    selections: tuple[Field, ...] | None
    line: int
    column: int

    @property
    def response_key(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class Operation:
    kind: str
    name: str | None
    # variable name -> (type text, default value or None)
    variables: Mapping[str, tuple[str, Any]]
    selections: tuple[Field, ...]


_TOKEN = re.compile(
    r"""
    (?P<ignored>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&():=@\[\]{}|])
  | (?P<block_string>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
  | (?P<string>"(?:[^"\\\n\r]|\\.)*")
  | (?P<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int
    column: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, line, line_start = 0, 1, 0
    while position < len(source):
        found = _TOKEN.match(source, position)
        if not found:
            raise GraphQLError(
                f"Parse error on {source[position]!r}", line, position - line_start + 1
            )
        kind = found.lastgroup or ""
        if kind != "ignored":
            tokens.append(_Token(kind, found.group(), line, position - line_start + 1))
        newlines = found.group().count("\n")
        if newlines:
            line += newlines
            line_start = found.start() + found.group().rfind("\n") + 1
        position = found.end()
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self._tokens = _tokens(source)
        self._at = 0

    def _peek(self) -> _Token | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _next(self) -> _Token:
        token = self._peek()
        if token is None:
            raise GraphQLError("Unexpected end of document")
        self._at += 1
        return token

    def _expect(self, text: str) -> _Token:
        token = self._next()
        if token.text != text:
            raise GraphQLError(f"Expected {text!r}, found {token.text!r}", token.line, token.column)
        return token

    def _skip(self, text: str) -> bool:
        token = self._peek()
        if token is not None and token.text == text and token.kind != "string":
            self._at += 1
            return True
        return False

    def _name(self) -> _Token:
        token = self._next()
        if token.kind != "name":
            raise GraphQLError(f"Expected a name, found {token.text!r}", token.line, token.column)
        return token

    def document(self) -> list[Operation]:
        operations = []
        while self._peek() is not None:
            operations.append(self._operation())
        if not operations:
            raise GraphQLError("The document contains no operation")
        return operations

    def _operation(self) -> Operation:
        token = self._peek()
        assert token is not None
        if token.text == "{":
            return Operation("query", None, {}, self._selection_set())
        if token.text == "fragment":
            raise GraphQLError("Fragments are not supported", token.line, token.column)
        kind = self._name().text
        if kind not in ("query", "mutation", "subscription"):
            raise GraphQLError(f"Unexpected {kind!r}", token.line, token.column)
        name = None
        following = self._peek()
        if following is not None and following.kind == "name":
            name = self._name().text
        variables: dict[str, tuple[str, Any]] = {}
        if self._skip("("):
            while not self._skip(")"):
                self._expect("$")
                var = self._name().text
                self._expect(":")
                type_text = self._type()
                default = self._value(const=True) if self._skip("=") else None
                variables[var] = (type_text, default)
        self._no_directives()
        return Operation(kind, name, variables, self._selection_set())

    def _type(self) -> str:
        if self._skip("["):
            inner = self._type()
            self._expect("]")
            text = f"[{inner}]"
        else:
            text = self._name().text
        return text + "!" if self._skip("!") else text

    def _no_directives(self) -> None:
        token = self._peek()
        if token is not None and token.text == "@":
            raise GraphQLError("Directives are not supported", token.line, token.column)

    def _selection_set(self) -> tuple[Field, ...]:
        self._expect("{")
        fields = []
        while not self._skip("}"):
            token = self._peek()
            if token is not None and token.kind == "spread":
                raise GraphQLError("Fragments are not supported", token.line, token.column)
            fields.append(self._field())
        if not fields:
            raise GraphQLError("A selection set cannot be empty")
        return tuple(fields)

    def _field(self) -> Field:
        first = self._name()
        alias, name = None, first
        if self._skip(":"):
            alias, name = first.text, self._name()
        arguments: dict[str, Any] = {}
        if self._skip("("):
            while not self._skip(")"):
                arg = self._name().text
                self._expect(":")
                arguments[arg] = self._value(const=False)
        self._no_directives()
        following = self._peek()
        selections = (
            self._selection_set() if following is not None and following.text == "{" else None
        )
        return Field(name.text, alias, arguments, selections, name.line, name.column)

    def _value(self, *, const: bool) -> Any:
        token = self._next()
        if token.text == "$" and token.kind == "punct":
            if const:
                raise GraphQLError("Variables are not allowed here", token.line, token.column)
            return Variable(self._name().text)
        if token.kind == "string":
            return json.loads(token.text)
        if token.kind == "block_string":
            return token.text[3:-3].replace('\\"""', '"""')
        if token.kind == "number":
            return float(token.text) if re.search(r"[.eE]", token.text) else int(token.text)
        if token.kind == "name":
            return {"true": True, "false": False, "null": None}.get(token.text, token.text)
        if token.text == "[":
            items = []
            while not self._skip("]"):
                items.append(self._value(const=const))
            return items
        if token.text == "{":
            fields = {}
            while not self._skip("}"):
                key = self._name().text
                self._expect(":")
                fields[key] = self._value(const=const)
            return fields
        raise GraphQLError(f"Unexpected {token.text!r}", token.line, token.column)


def parse(source: str, operation_name: str | None = None) -> Operation:
    """The operation to run: the only one, or the one named `operation_name`."""
    operations = _Parser(source).document()
    if operation_name:
        for operation in operations:
            if operation.name == operation_name:
                return operation
        raise GraphQLError(f'No operation named "{operation_name}"')
    if len(operations) > 1:
        raise GraphQLError("An operation name is required when sending several operations")
    return operations[0]


def resolve(value: Any, variables: Mapping[str, Any], operation: Operation) -> Any:
    """An argument value with its variables replaced by their values or defaults."""
    if isinstance(value, Variable):
        if value.name not in operation.variables:
            raise GraphQLError(f"Variable ${value.name} is used but not declared")
        if value.name in variables:
            return variables[value.name]
        return operation.variables[value.name][1]
    if isinstance(value, list):
        return [resolve(item, variables, operation) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, variables, operation) for key, item in value.items()}
    return value


# Schema: type name -> field -> type name of an object field, or None for a scalar.
Schema = Mapping[str, Mapping[str, str | None]]


def validate(fields: tuple[Field, ...], type_name: str, schema: Schema) -> list[GraphQLError]:
    """Errors for unknown fields and for missing or superfluous sub-selections."""
    errors: list[GraphQLError] = []
    known = schema[type_name]
    for field in fields:
        if field.name == "__typename":
            continue
        if field.name not in known:
            errors.append(
                GraphQLError(
                    f"Field '{field.name}' doesn't exist on type '{type_name}'",
                    field.line,
                    field.column,
                )
            )
            continue
        child = known[field.name]
        if child is None and field.selections is not None:
            errors.append(
                GraphQLError(
                    f"Selections can't be made on scalars (field '{field.name}')",
                    field.line,
                    field.column,
                )
            )
        elif child is not None and field.selections is None:
            errors.append(
                GraphQLError(
                    f"Field '{field.name}' of type '{child}' must have a selection of subfields",
                    field.line,
                    field.column,
                )
            )
        elif child is not None and field.selections is not None:
            errors.extend(validate(field.selections, child, schema))
    return errors


def project(value: Any, fields: tuple[Field, ...], type_name: str, schema: Schema) -> Any:
    """Only the selected fields of `value` (an object or a list of objects)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [project(item, fields, type_name, schema) for item in value]
    result: dict[str, Any] = {}
    for field in fields:
        if field.name == "__typename":
            result[field.response_key] = type_name
            continue
        child = schema[type_name][field.name]
        item = value.get(field.name)
        if child is not None and field.selections is not None:
            item = project(item, field.selections, child, schema)
        result[field.response_key] = item
    return result
