#!/usr/bin/env python3
"""Checks YAML files against docs/workflow.schema.json (issue #14): prints "valid FILE" or
"invalid FILE: REASON" per file, "unreadable FILE: REASON" when the YAML cannot be read.
Used by tests/test_cli_schema.c. Usage: schema_check.py SCHEMA FILE..."""
import json
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2's core schema for booleans, as Maestro's loader: yes/no/on/off stay strings
    (PyYAML follows YAML 1.1, where `on:` in a retry policy would become the key true)."""


Yaml12Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def main():
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    v = jsonschema.Draft7Validator(schema)
    for path in sys.argv[2:]:
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.load(f, Loader=Yaml12Loader)
        except Exception as e:  # YAML the loader refuses too: not the schema's business
            print(f"unreadable {path}: {type(e).__name__}")
            continue
        errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errs:
            e = errs[0]
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"invalid {path}: {where}: {e.message[:200]}")
        else:
            print(f"valid {path}")


main()
