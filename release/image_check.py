"""Images exist before a catalog points at them, and are published pinned by digest.

A publish must never write a catalog entry whose images Kamiwaza cannot pull, and
(PIN_DIGESTS) a published release must not change when someone pushes its tag again.

Pure (no I/O):
    entry_images(entry) -> [ref]              the project images one entry names, unpinned
    wanted(catalogs) -> [Wanted]              those of every entry, once each, with who names them
    push_command(stage, user, prefix)         the exact `make push` line that pushes one
    pin_ref(ref, digest), pin_entry(entry, digests)
    digest_changes(before, after) -> [str]    what a re-pushed tag changed (for merge messages)
Edge:
    lookup(client, refs, prefix) -> {ref: digest | None}   the registry API, through the engine
    prepare(local, settings, options) -> local             the publisher's one call: check, then pin

Only project images (`images.is_project_image`, kamiwazaai/*) are looked up and pinned;
images of other publishers (postgres, redis) are left as the extension wrote them.
The lookup asks the image registry (`docker manifest inspect`-like, the engine's
distribution endpoint) with the docker config's credentials, at the reference
`make push` pushes to: `push.target_ref(ref, push.registry_prefix(IMAGE_REGISTRY))`.
Catalog entries keep the names Kamiwaza pulls (`kamiwazaai/...`, no registry prefix).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from release import compose, images, log, push, registry
from release.config import Settings, parse_flag
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError, Problem

if TYPE_CHECKING:  # publish imports this module; the types only
    from release.publish import Local, Options

PIN_VARIABLE = "PIN_DIGESTS"
SKIP_VARIABLE = "SKIP_IMAGE_CHECK"
PIN_BY_DEFAULT = ("prod",)  # stages that pin unless PIN_DIGESTS=0
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_AUTH_WORDS = ("unauthorized", "authentication required", "no basic auth credentials", "denied", "401", "403")


# --------------------------------------------------------------------------- references (pure)


def unpinned(ref: str) -> str:
    """`name:tag@sha256:..` -> `name:tag`."""
    return ref.split("@", 1)[0]


def digest_of(ref: str) -> str | None:
    return ref.split("@", 1)[1] if "@" in ref else None


def pin_ref(ref: str, digest: str) -> str:
    """`name:tag` (pinned or not) -> `name:tag@digest`."""
    if not _DIGEST.match(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return f"{unpinned(ref)}@{digest}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def entry_images(entry: Mapping[str, Any]) -> list[str]:
    """The project images one entry names (docker_images, compose_yml, image, extra_docker_images), unpinned, once each."""
    named = [*_strings(entry.get("docker_images"))]
    if isinstance(entry.get("compose_yml"), str):
        named += registry.images_in(entry["compose_yml"])
    named += _strings(entry.get("image")) + _strings(entry.get("extra_docker_images"))
    return list(dict.fromkeys(unpinned(ref) for ref in named if images.is_project_image(ref)))


@dataclass(frozen=True)
class User:
    """An entry that names an image: what `make push` needs to push it."""

    type: str
    name: str
    version: str


@dataclass(frozen=True)
class Wanted:
    ref: str  # as the catalog names it, unpinned: kamiwazaai/{ext}-{svc}:{stage tag}
    users: tuple[User, ...]


def wanted(catalogs: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Wanted]:
    """Every project image the entries name, once, sorted, with the entries naming it."""
    users: dict[str, list[User]] = {}
    for entries in catalogs.values():
        for entry in entries:
            user = User(str(entry.get("template_type", "app")), str(entry.get("name")), str(entry.get("version")))
            for ref in entry_images(entry):
                if user not in users.setdefault(ref, []):
                    users[ref].append(user)
    return [Wanted(ref, tuple(found)) for ref, found in sorted(users.items())]


def push_command(stage: str, user: User, prefix: str) -> str:
    """The command that pushes an entry's images for `stage` to the registry the check asked."""
    registry_part = f" IMAGE_REGISTRY={prefix}" if prefix else ""
    return f"STAGE={stage} make push TYPE={user.type} NAME={user.name}{registry_part}"


def missing_problems(missing: Sequence[Wanted], stage: str, prefix: str, denied: Mapping[str, str] | None = None) -> list[Problem]:
    """One line per image the registry does not serve, with the command that pushes it."""
    denied = denied or {}
    host = push.registry_host(prefix)
    problems: list[Problem] = []
    for item in missing:
        target = push.target_ref(item.ref, prefix)
        commands = " or ".join(f"`{push_command(stage, user, prefix)}`" for user in item.users)
        names = ", ".join(f"{u.name} {u.version}" for u in item.users)
        if item.ref in denied:
            problems.append(Problem(f"image {target} (used by {names}) cannot be read from {host} ({denied[item.ref]})", field="IMAGE_REGISTRY",
                                    fix=f"push it: {commands}; or, when it is pushed, log in with `docker login {host}`"))
        else:
            problems.append(Problem(f"image {target} (used by {names}) is not in {host}", field="IMAGE_REGISTRY", fix=f"push it: {commands}"))
    return problems


# --------------------------------------------------------------------------- pinning (pure)


def _header(text: str) -> str:
    """The comment lines an App Garden text starts with (the GENERATED FILE header)."""
    lines = text.splitlines(keepends=True)
    kept = []
    for line in lines:
        if not line.startswith("#"):
            break
        kept.append(line)
    return "".join(kept)


def pin_compose(text: str, digests: Mapping[str, str]) -> str:
    """compose_yml with every project service image in `digests` pinned; unchanged text when nothing moves."""
    document = compose.parse_yaml(text)
    changed = False
    for service in compose.services(document).values():
        if not isinstance(service, dict) or not isinstance(service.get("image"), str):
            continue
        image = service["image"]
        digest = digests.get(unpinned(image))
        if digest and images.is_project_image(image) and image != pin_ref(image, digest):
            service["image"] = pin_ref(image, digest)
            changed = True
    return _header(text) + compose.dump_yaml(document) if changed else text


def _pin_list(refs: Any, digests: Mapping[str, str]) -> Any:
    if isinstance(refs, str):
        return _pin_one(refs, digests)
    if not isinstance(refs, list):
        return refs
    return [_pin_one(ref, digests) if isinstance(ref, str) else ref for ref in refs]


def _pin_one(ref: str, digests: Mapping[str, str]) -> str:
    digest = digests.get(unpinned(ref))
    return pin_ref(ref, digest) if digest and images.is_project_image(ref) else ref


def pin_entry(entry: Mapping[str, Any], digests: Mapping[str, str]) -> dict[str, Any]:
    """The entry with its project images as `name:tag@digest` in docker_images, compose_yml, image, extra_docker_images."""
    pinned = dict(entry)
    for key in ("docker_images", "image", "extra_docker_images"):
        if key in pinned:
            pinned[key] = _pin_list(pinned[key], digests)
    if isinstance(pinned.get("docker_images"), list):
        pinned["docker_images"] = sorted(dict.fromkeys(pinned["docker_images"]))
    if isinstance(pinned.get("compose_yml"), str):
        pinned["compose_yml"] = pin_compose(pinned["compose_yml"], digests)
    return pinned


def pin_catalogs(catalogs: Mapping[str, Sequence[Mapping[str, Any]]], digests: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    return {name: [pin_entry(entry, digests) for entry in entries] for name, entries in catalogs.items()}


def is_pinned(entry: Mapping[str, Any]) -> bool | None:
    """True when every project image in docker_images carries a digest; None when it has none."""
    refs = [ref for ref in _strings(entry.get("docker_images")) if images.is_project_image(ref)]
    if not refs:
        return None
    return all(digest_of(ref) for ref in refs)


def digest_changes(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """One phrase per project image whose digest differs from `before` (published) to `after` (about to be)."""
    old = {unpinned(r): digest_of(r) for r in before if isinstance(r, str) and images.is_project_image(r)}
    new = {unpinned(r): digest_of(r) for r in after if isinstance(r, str) and images.is_project_image(r)}
    changes = []
    for ref in sorted(set(old) & set(new)):
        if old[ref] == new[ref]:
            continue
        if old[ref] and new[ref]:
            changes.append(f"{ref} was published as {old[ref]}, the registry now serves {new[ref]} (the tag was pushed again)")
        elif new[ref]:
            changes.append(f"{ref} was published without a digest, now pinned to {new[ref]}")
        else:
            changes.append(f"{ref} was published pinned to {old[ref]}, now without a digest (PIN_DIGESTS=0?)")
    return changes


# --------------------------------------------------------------------------- settings


def skip_check(settings: Settings) -> bool:
    return parse_flag(SKIP_VARIABLE, settings.get(SKIP_VARIABLE))


def pin_digests(settings: Settings, stage: str) -> bool:
    """PIN_DIGESTS when given, else on for prod and off for the other stages."""
    value = settings.get(PIN_VARIABLE)
    return stage in PIN_BY_DEFAULT if value is None else parse_flag(PIN_VARIABLE, value)


# --------------------------------------------------------------------------- the registry (I/O)


def lookup(client: Any, refs: Iterable[str], prefix: str) -> tuple[dict[str, str | None], dict[str, str]]:
    """({ref: digest, or None when the registry does not serve it}, {ref: why it was refused}).

    The engine asks the registry (`/distribution/{ref}/json`) with the docker config's
    credentials; an unreachable registry is a HarnessError (exit 2) naming IMAGE_REGISTRY.
    """
    from docker.errors import APIError, DockerException, NotFound
    from requests import RequestException

    from release import docker as engine_edge

    found: dict[str, str | None] = {}
    denied: dict[str, str] = {}
    host = push.registry_host(prefix)
    for ref in refs:
        target = push.target_ref(ref, prefix)
        try:
            found[ref] = client.api.inspect_distribution(target)["Descriptor"]["digest"]
        except NotFound:
            found[ref] = None
        except APIError as error:
            message = engine_edge._api_message(error)
            if any(word in message.lower() for word in _AUTH_WORDS):
                found[ref] = None
                denied[ref] = message
                continue
            raise _unreachable(host, prefix, message) from None
        except (DockerException, RequestException) as error:
            raise _unreachable(host, prefix, " ".join(str(error).split())) from None
    return found, denied


def _unreachable(host: str, prefix: str, message: str) -> HarnessError:
    setting = f"IMAGE_REGISTRY={prefix}" if prefix else "IMAGE_REGISTRY unset (Docker Hub)"
    return HarnessError(
        f"cannot reach the image registry {host} ({setting}) to check the images: {message}",
        field="IMAGE_REGISTRY",
        fix=f"start the registry or correct IMAGE_REGISTRY (the host `make push` pushes to); check with `make doctor`. "
            f"For an offline demo only, {SKIP_VARIABLE}=1 publishes without the check",
        exit_code=EXIT_BAD_INPUT,
    )


def _engine() -> Any:
    from release import docker as engine_edge

    try:
        return engine_edge.engine()
    except HarnessError as error:
        raise HarnessError(problems=[*error.problems, Problem(
            "the image check asks the registry through the Docker engine",
            fix=f"start the engine; for an offline demo only, {SKIP_VARIABLE}=1 publishes without the check")]) from None


def prepare(local: "Local", settings: Settings, options: "Options", *, client: Any = None) -> "Local":
    """Before a publish writes anything (DRY_RUN too): every project image exists; then pin (PIN_DIGESTS).

    Raises HarnessError (exit 1) listing each missing image with its push command.
    Returns `local` itself when nothing is pinned, else a Local with pinned catalogs.
    """
    stage = options.stage
    needed = wanted(local.catalogs)
    pin = pin_digests(settings, stage)
    prefix = push.registry_prefix(settings.get("IMAGE_REGISTRY"))
    host = push.registry_host(prefix)
    if skip_check(settings):
        log.info(f"WARNING: {SKIP_VARIABLE}=1: the {len(needed)} project images were NOT looked up in {host}; "
                 "this catalog may point at images that do not exist. Use it for offline demos only.")
        if pin:
            if settings.get(PIN_VARIABLE) is not None:
                raise HarnessError(f"{PIN_VARIABLE}=1 needs the digests the registry reports, and {SKIP_VARIABLE}=1 skips asking it",
                                   field=PIN_VARIABLE, fix=f"drop {SKIP_VARIABLE}=1, or set {PIN_VARIABLE}=0")
            log.info(f"WARNING: {SKIP_VARIABLE}=1: the images are published NOT pinned by digest")
        return local
    if not needed:
        return local
    with log.step(f"images: {len(needed)} project images in {host} (tag for stage {stage})"):
        found, denied = lookup(client or _engine(), [w.ref for w in needed], prefix)
        missing = [w for w in needed if found.get(w.ref) is None]
        for item in needed:
            if found.get(item.ref):
                log.info(f"  ok      {push.target_ref(item.ref, prefix)} {found[item.ref]}")
        if missing:
            raise HarnessError(problems=[*missing_problems(missing, stage, prefix, denied), Problem(
                f"{len(missing)} of {log.plural(len(needed), 'image')} {'is' if len(missing) == 1 else 'are'} not in {host}; nothing was published",
                fix=f"push them with the commands above, then publish again (check with `make publish-registry STAGE={stage} DRY_RUN=1`)")],
                exit_code=EXIT_FAILED)
    if not pin:
        log.info(f"  not pinned by digest ({PIN_VARIABLE}=1 pins; on by default for STAGE=prod)")
        return local
    digests = {ref: digest for ref, digest in found.items() if digest}
    return _pinned_local(local, pin_catalogs(local.catalogs, digests))


def _pinned_local(local: "Local", catalogs: Mapping[str, Sequence[Mapping[str, Any]]]) -> "Local":
    from release import publish  # imported here: publish imports this module

    files = {**local.files, **publish.catalog_bytes(catalogs)}
    log.info(f"  pinned by digest ({PIN_VARIABLE}): every project image is name:tag@sha256:<digest>")
    return dataclasses.replace(local, catalogs={name: list(entries) for name, entries in catalogs.items()}, files=files)


__all__ = [
    "PIN_VARIABLE", "SKIP_VARIABLE", "Wanted", "User", "entry_images", "wanted", "push_command", "missing_problems",
    "pin_ref", "pin_entry", "pin_compose", "pin_catalogs", "is_pinned", "digest_changes", "unpinned", "digest_of",
    "skip_check", "pin_digests", "lookup", "prepare",
]
