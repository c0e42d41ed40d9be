"""The one rule engine: every rule over every extension, for every entry point.

`make validate` (checks/, the pytest view), `build-registry`, `package-registry`
and `publish-registry` all ask this module, so what one refuses the others refuse.

Each extension's sources are loaded once (through `sources`, which caches by
path, mtime and size): kamiwaza.json, docker-compose.yml and the App Garden file.
Rules are grouped into families; each family owns one file:

    manifest   kamiwaza.json               schema, version grammar, naming, preview image, env, uniqueness
    compose    docker-compose.yml          Compose's model, Dockerfiles, host privileges (at the source)
    appgarden  docker-compose.appgarden.yml presence, drift, the App Garden rules, Compose's model
    platform   docker-compose.yml, Dockerfiles  Kamiwaza's non-root platform rules (release.platform)

When a file cannot be loaded or fails its schema, its family fails once with the
error and every rule that needs the file is `skipped`, with a pointer to the
failure ("kamiwaza.json failed to load, see test_manifest[app/x]"). One wrong
field is one failure.

Adding a rule is one line in RULES (or in compose.APPGARDEN_RULES); adding a
family is one line in FAMILIES plus its rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from release import compose, compose_spec, manifest, platform, rules, sources, sync, versions
from release import extensions as discovery
from release.errors import HarnessError, Problem
from release.extensions import APPGARDEN_COMPOSE, COMPOSE, MANIFEST, Extension

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Family:
    name: str
    test: str  # the checks/ test function that shows this family
    file: str | None  # the file it owns (its load failure is this family's failure)


FAMILIES: tuple[Family, ...] = (
    Family("manifest", "test_manifest", MANIFEST),
    Family("compose", "test_compose", COMPOSE),
    Family("appgarden", "test_appgarden", APPGARDEN_COMPOSE),
    Family("platform", "test_platform", None),
)
FAMILY = {family.name: family for family in FAMILIES}


@dataclass(frozen=True)
class RuleResult:
    family: str
    rule_id: str
    status: str  # passed | failed | skipped
    problems: tuple[Problem, ...] = ()
    skipped_because: str | None = None

    def render(self) -> str:
        if self.status == SKIPPED:
            return f"{self.family}/{self.rule_id}: skipped: {self.skipped_because}"
        lines = [f"{self.family}/{self.rule_id}: {self.status}"]
        lines += [f"  error: {problem.render()}" for problem in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class ExtensionResults:
    extension: Extension
    results: tuple[RuleResult, ...]

    def family(self, name: str) -> list[RuleResult]:
        return [result for result in self.results if result.family == name]

    @property
    def failed(self) -> list[RuleResult]:
        return [result for result in self.results if result.status == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


class Skip(Exception):
    """Raised by a rule's inputs when something it needs is missing; the rule is `skipped`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- the inputs of one extension


@dataclass
class Inputs:
    """One extension's sources, each loaded at most once; a failure is remembered, not raised twice."""

    extension: Extension
    repo: Repo
    _loaded: dict[str, Any] = field(default_factory=dict)

    def _once(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            try:
                self._loaded[key] = load()
            except HarnessError as error:
                self._loaded[key] = error
        value = self._loaded[key]
        if isinstance(value, HarnessError):
            raise value
        return value

    def pointer(self, family: str, file: str) -> str:
        return f"{file} failed to load, see {FAMILY[family].test}[{self.extension.id}]"

    # kamiwaza.json: read, an object, schema-valid
    def manifest_data(self) -> Mapping[str, Any]:
        return self._once("manifest", lambda: _manifest_data(self.extension))

    def parsed_manifest(self) -> manifest.Manifest:
        """The schema-valid manifest as `manifest.load` gives it (validated once, here)."""
        return manifest.Manifest(self.extension.manifest_path, self.manifest_data())

    def manifest_if_valid(self) -> Mapping[str, Any] | None:
        try:
            return self.manifest_data()
        except HarnessError:
            return None

    def manifest_or_skip(self) -> Mapping[str, Any]:
        try:
            return self.manifest_data()
        except HarnessError:
            raise Skip(self.pointer("manifest", MANIFEST)) from None

    # docker-compose.yml: safe, parsed, shaped like a compose file
    def compose_document(self) -> Mapping[str, Any]:
        return self._once("compose", lambda: compose.load_compose(self.extension.compose_path))

    def compose_or_skip(self) -> Mapping[str, Any]:
        self.manifest_or_skip()
        try:
            return self.compose_document()
        except HarnessError:
            raise Skip(self.pointer("compose", COMPOSE)) from None

    # docker-compose.appgarden.yml
    def appgarden(self) -> compose.AppGardenFile | None:
        data = self.manifest_or_skip()

        def load() -> compose.AppGardenFile | None:
            path = self.extension.appgarden_path
            if not os.path.lexists(path):
                return None
            document = compose.load_compose(path)
            allowed = compose.allowances(data)
            return compose.AppGardenFile(document, path, str(data.get("version")), allowed.bind_mounts, allowed.capabilities)

        return self._once("appgarden", load)

    def appgarden_or_skip(self) -> compose.AppGardenFile:
        try:
            garden = self.appgarden()
        except HarnessError:
            raise Skip(self.pointer("appgarden", APPGARDEN_COMPOSE)) from None
        if garden is None:
            raise Skip(f"there is no {APPGARDEN_COMPOSE} (appgarden/present says whether one is required)")
        return garden

    def compose_model(self, path: Path, document: Any) -> list[Problem]:
        """Compose's verdict on a file, in process (release.compose_spec), once per file."""
        return self.repo.compose_model(path, document)


def _manifest_data(extension: Extension) -> Mapping[str, Any]:
    path = extension.manifest_path
    data = manifest.read_json(path)
    if not isinstance(data, dict):
        raise HarnessError("is not a JSON object", file=path, field="$", fix='wrap the fields in { ... } (e.g. {"name": ..., "version": ...})')
    problems = manifest.schema_problems(data, path)
    if problems:
        raise HarnessError(problems=problems)
    return data


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Rule:
    family: str
    id: str
    summary: str
    check: Callable[[Inputs], list[Problem]]


def _loads_manifest(inputs: Inputs) -> list[Problem]:
    inputs.manifest_data()  # raises the load or schema error: this family's one failure
    return []


def _version_grammar(inputs: Inputs) -> list[Problem]:
    data = inputs.manifest_or_skip()
    problems = []
    for key, parse in (("version", versions.parse_version), ("kamiwaza_version", versions.parse_range)):
        if key in data:
            try:
                parse(data[key])
            except versions.VersionSyntaxError as error:
                problems.append(Problem(str(error), file=inputs.extension.manifest_path, field=f"$.{key}", fix=manifest.fix_for(key)))
    return problems


def _preview_image(inputs: Inputs) -> list[Problem]:
    data = inputs.manifest_or_skip()
    extension = inputs.extension
    problems = rules.preview_image_problems(extension, data, inputs.repo.preview_prefixes)
    key = rules.preview_image_key(data)
    if problems or key is None:
        return problems
    # A shipped preview image is a regular file inside the extension: never a symlink to a host file.
    try:
        sources.check_regular_file(extension.path / data["preview_image"], within=extension.path, limit=sources.image_limit(), what="preview image")
    except HarnessError as error:
        return [Problem(p.message, file=extension.manifest_path, field="$.preview_image", fix=p.fix) for p in error.problems]
    return []


def _unique_name(inputs: Inputs) -> list[Problem]:
    inputs.manifest_or_skip()
    groups = inputs.repo.name_groups
    return rules.shared_value_problems(inputs.extension, groups.get(inputs.extension, {}), field="$.name", what="extension name", fix="give each extension its own name (folder and manifest)")


def _unique_preview(inputs: Inputs) -> list[Problem]:
    inputs.manifest_or_skip()
    groups = inputs.repo.preview_groups
    return rules.shared_value_problems(
        inputs.extension,
        groups.get(inputs.extension, {}),
        field="$.preview_image",
        what="preview image file name",
        fix="rename the file: the registry copies every preview image into one images/ folder",
    )


def _loads_compose(inputs: Inputs) -> list[Problem]:
    inputs.manifest_or_skip()
    inputs.compose_document()
    return []


def _compose_accepts(inputs: Inputs) -> list[Problem]:
    document = inputs.compose_or_skip()
    return inputs.compose_model(inputs.extension.compose_path, document)


def _dockerfiles(inputs: Inputs) -> list[Problem]:
    return compose.dockerfile_problems(inputs.compose_or_skip(), inputs.extension.compose_path)


def _source_privileges(inputs: Inputs) -> list[Problem]:
    document = inputs.compose_or_skip()
    return compose.source_privilege_problems(document, inputs.extension.compose_path, inputs.manifest_or_skip())


def _appgarden_present(inputs: Inputs) -> list[Problem]:
    inputs.manifest_or_skip()
    return sync.presence_problems(inputs.extension)


def _appgarden_in_sync(inputs: Inputs) -> list[Problem]:
    document = inputs.compose_or_skip()
    if not os.path.lexists(inputs.extension.appgarden_path):
        raise Skip(f"there is no {APPGARDEN_COMPOSE} (appgarden/present says whether one is required)")
    result = sync.sync_one(inputs.extension, check=True, loaded=(inputs.parsed_manifest(), document))
    if result.ok:
        return []
    if result.diff:
        first, *rest = result.problems
        return [Problem(f"{first.message}\n{result.diff.rstrip()}", file=first.file, field=first.field, fix=first.fix), *rest]
    return list(result.problems)


def _loads_appgarden(inputs: Inputs) -> list[Problem]:
    inputs.compose_or_skip()
    inputs.appgarden_or_skip()
    return []


def _garden_rule(rule: compose.Rule) -> Callable[[Inputs], list[Problem]]:
    def check(inputs: Inputs) -> list[Problem]:
        inputs.compose_or_skip()
        garden = inputs.appgarden_or_skip()
        if rule.id == "no-host-privileges" and inputs.repo.source_privileges_failed(inputs):
            # what the App Garden file copies from docker-compose.yml is reported there, where it is fixed
            raise Skip(f"docker-compose.yml grants the same host privileges, see test_compose[{inputs.extension.id}]")
        return rule.check(garden)

    return check


def _appgarden_accepts(inputs: Inputs) -> list[Problem]:
    inputs.compose_or_skip()
    garden = inputs.appgarden_or_skip()
    return inputs.compose_model(garden.path, garden.document)


def _platform_rule(check: Callable[[Extension, Mapping[str, Any]], list[Problem]]) -> Callable[[Inputs], list[Problem]]:
    return lambda inputs: check(inputs.extension, inputs.compose_or_skip())


RULES: tuple[Rule, ...] = (
    Rule("manifest", "schema", "kamiwaza.json is a JSON object valid against the schema", _loads_manifest),
    Rule("manifest", "version-grammar", "version is semver, kamiwaza_version a range", _version_grammar),
    Rule("manifest", "naming", "folder, name and template_type agree; kebab-case with the type's prefix", lambda i: rules.naming_problems(i.extension, i.manifest_or_skip())),
    Rule("manifest", "unique-name", "no two extensions share a name", _unique_name),
    Rule("manifest", "preview-image", "preview_image is an allowed URL or a regular file inside the extension", _preview_image),
    Rule("manifest", "unique-preview-image", "no two extensions ship one preview file name", _unique_preview),
    Rule("manifest", "env-defaults", "env_defaults sets no KAMIWAZA_* variable", lambda i: rules.env_defaults_problems(i.extension, i.manifest_or_skip())),
    Rule("compose", "loads", "docker-compose.yml is a readable compose file with services", _loads_compose),
    Rule("compose", "compose-v2-accepts", "Compose's own model accepts docker-compose.yml", _compose_accepts),
    Rule("compose", "dockerfiles", "every built service has its context and Dockerfile", _dockerfiles),
    Rule("compose", "host-privileges", "no service gets host privileges (see compose.host_privilege_problems)", _source_privileges),
    Rule("appgarden", "present", "apps (and anything with a docker-compose.yml) ship the App Garden file", _appgarden_present),
    Rule("appgarden", "in-sync", "the App Garden file is what `make sync-compose` generates", _appgarden_in_sync),
    Rule("appgarden", "loads", "the App Garden file is a readable compose file", _loads_appgarden),
    *(Rule("appgarden", rule.id, rule.summary, _garden_rule(rule)) for rule in compose.APPGARDEN_RULES),
    Rule("appgarden", "compose-v2-accepts", "Compose's own model accepts the App Garden file", _appgarden_accepts),
    *(Rule("platform", rule_id, summary, _platform_rule(check)) for rule_id, summary, check in platform.PLATFORM_RULES),
)


# --------------------------------------------------------------------------- the monorepo view


class Repo:
    """Every extension of a monorepo, the cross-extension groups, and Compose verdicts run ahead."""

    def __init__(self, root: Path, env: Mapping[str, str] | None = None, *, rules_: Sequence[Rule] = RULES) -> None:
        self.root = Path(root)
        self.env = os.environ if env is None else env
        self.rules = tuple(rules_)
        self.extensions = discovery.discover(self.root)
        self.preview_prefixes = rules.preview_prefixes(self.env)
        self._inputs: dict[Extension, Inputs] = {}
        self._results: dict[tuple[Extension, str], ExtensionResults] = {}
        self._model: dict[str, list[Problem]] = {}

    def inputs(self, extension: Extension) -> Inputs:
        if extension not in self._inputs:
            self._inputs[extension] = Inputs(extension, self)
        return self._inputs[extension]

    @cached_property
    def _manifests(self) -> dict[Extension, Mapping[str, Any]]:
        """Every readable manifest object (schema not required): what uniqueness compares (read once)."""
        found = {}
        for extension in self.extensions:
            try:
                data = manifest.read_json(extension.manifest_path)
            except HarnessError:
                continue
            if isinstance(data, dict):
                found[extension] = data
        return found

    @cached_property
    def name_groups(self) -> dict[Extension, dict[Extension, str | None]]:
        names = {e: (d.get("name") if isinstance(d.get("name"), str) else e.name) for e, d in self._manifests.items()}
        return rules.holders_of_same_value(names)

    @cached_property
    def preview_groups(self) -> dict[Extension, dict[Extension, str | None]]:
        return rules.holders_of_same_value({e: rules.preview_image_key(d) for e, d in self._manifests.items()})

    def source_privileges_failed(self, inputs: Inputs) -> bool:
        try:
            return bool(compose.source_privilege_problems(inputs.compose_document(), inputs.extension.compose_path, inputs.manifest_data()))
        except HarnessError:
            return False

    def compose_model(self, path: Path, document: Any) -> list[Problem]:
        """Compose's verdict (schema, then its semantic checks) in process; the binary stays the
        reference in tests/test_compose_spec.py, and `make build`/`make test` still run it."""
        key = os.path.abspath(path)
        if key not in self._model:
            self._model[key] = compose_spec.problems(document, Path(path))
        return self._model[key]

    def results(self, extension: Extension, family: str | None = None) -> ExtensionResults:
        """Every rule's result for one extension, or for one family of it (each computed once).

        Families are independent (a skip depends on whether a file loads, not on another
        family's results), so a pytest-xdist worker computes only the family its test shows.
        """
        families = [family] if family is not None else list(dict.fromkeys(rule.family for rule in self.rules))
        results: list[RuleResult] = []
        for name in families:
            key = (extension, name)
            if key not in self._results:
                self._results[key] = evaluate(self.inputs(extension), [rule for rule in self.rules if rule.family == name])
            results += self._results[key].results
        return ExtensionResults(extension, tuple(results))

    def run(self, extensions: Iterable[Extension] | None = None) -> list[ExtensionResults]:
        chosen = list(self.extensions if extensions is None else extensions)
        return [self.results(extension) for extension in chosen]


def evaluate(inputs: Inputs, rules_: Sequence[Rule] = RULES) -> ExtensionResults:
    """Run every rule for one extension; a family whose file fails fails once, the rest skip."""
    results: list[RuleResult] = []
    failed_load: dict[str, str] = {}  # family -> the error already reported
    for rule in rules_:
        try:
            problems = rule.check(inputs)
        except Skip as skip:
            results.append(RuleResult(rule.family, rule.id, SKIPPED, skipped_because=skip.reason))
            continue
        except HarnessError as error:  # the file this family owns failed to load
            text = error.render()
            if failed_load.get(rule.family) == text:
                file = FAMILY[rule.family].file or rule.family
                results.append(RuleResult(rule.family, rule.id, SKIPPED, skipped_because=inputs.pointer(rule.family, file)))
                continue
            failed_load[rule.family] = text
            problems = list(error.problems)
        except Exception as error:  # noqa: BLE001 - a harness bug must not hide the other results
            problems = [Problem(f"the harness could not run rule {rule.family}/{rule.id} (a bug: {type(error).__name__}: {error})", file=inputs.extension.path, fix="report it with this file; meanwhile check the file by hand")]
        located = tuple(sources.locate_all(problems))
        results.append(RuleResult(rule.family, rule.id, FAILED if located else PASSED, located))
    return ExtensionResults(inputs.extension, tuple(results))


# --------------------------------------------------------------------------- the gate for the other entry points


def validate(root: Path, env: Mapping[str, str] | None = None, extensions: Iterable[Extension] | None = None) -> list[ExtensionResults]:
    """Every rule over the chosen extensions of `root` (default: all of them)."""
    return Repo(root, env).run(extensions)


def refusal(results: Iterable[ExtensionResults]) -> HarnessError | None:
    """One error listing every failing rule and its problems; None when all pass."""
    failing = [result for result in results if not result.ok]
    if not failing:
        return None
    summary = "; ".join(f"{r.extension.id} ({', '.join(f'{x.family}/{x.rule_id}' for x in r.failed)})" for r in failing)
    problems = [
        Problem(
            f"{len(failing)} extension{'s' if len(failing) != 1 else ''} fail{'s' if len(failing) == 1 else ''} the rules of `make validate`: {summary}",
            fix="fix the problems below (`make validate` shows them too); nothing was built",
        )
    ]
    for result in failing:
        for rule in result.failed:
            problems += rule.problems
    return HarnessError(problems=problems)


def require_valid(root: Path, env: Mapping[str, str] | None = None, extensions: Iterable[Extension] | None = None) -> None:
    """Raise the refusal (exit 2) when any extension fails any rule: what registry and package call."""
    error = refusal(validate(root, env, extensions))
    if error is not None:
        raise error
