"""terraform/ checked against the code: functions, topics, subscriptions, settings, secrets, IAM.

The google provider cannot be downloaded here, so `terraform validate` cannot run. Instead the
HCL is parsed with python-hcl2 into a model of what Terraform deploys, the code is read with
`ast` (and the `shared` modules themselves) into the facts of what it needs, and pure
`check_*` functions compare the two and return a list of problems.

The first tests assert that the real repository has no problems. The mutation tests after them
hand the same checks a code base with one more function, topic, setting, secret or log line
than Terraform knows about, or a Terraform model with a typo, and assert that they complain.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, get_args, get_origin

import hcl2
import pytest

import shared.adapters.secrets as secrets_module
import shared.topology as topology_module
from shared.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_ROOT / "terraform"
FUNCTIONS_DIR = REPO_ROOT / "functions"
BOOTSTRAP = REPO_ROOT / "shared" / "bootstrap.py"
SETTINGS_SOURCE = REPO_ROOT / "shared" / "settings.py"

# Every function must set these: their local defaults are wrong in the cloud.
ALWAYS_SET = frozenset({"GOOGLE_CLOUD_PROJECT", "ATENDE_ENV", "SECRETS_BACKEND"})
# Read by the code outside Settings (shared/observability.py).
RUNTIME_ENV = frozenset({"LOG_LEVEL"})
# Set by Cloud Run itself; a function may read them (K_SERVICE) but must not set them.
RESERVED_ENV = frozenset({"K_SERVICE", "K_REVISION", "K_CONFIGURATION", "PORT"})
PRIMITIVE_ROLE = re.compile(r"\broles/(owner|editor|viewer)\b")
ROLE = re.compile(r"\broles/[A-Za-z0-9_.]+")
PROJECT_IAM = (
    "google_project_iam_member",
    "google_project_iam_binding",
    "google_project_iam_policy",
)
FORBIDDEN_PROJECT_ROLES = frozenset({"roles/secretmanager.secretAccessor"})
# Any one of these lets a function's account use Firestore (viewer: read only).
FIRESTORE_ROLES = frozenset(
    {"roles/datastore.user", "roles/datastore.viewer", "roles/datastore.owner"}
)
# Modules whose use means the function talks to Firestore.
FIRESTORE_MODULE_PREFIX = "shared.adapters.firestore_"
# Only these may be invoked by anyone; everything else takes an IAM identity.
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
PUBLIC_GRANTS = frozenset({("google_cloud_run_v2_service_iam_member", "webhook_public")})
PUBLIC_FUNCTIONS = frozenset({"webhook"})
# Settings two functions may set to different values (none yet: one knob, one value). Add a
# name here only with the reason the functions must disagree.
MAY_DIFFER: frozenset[str] = frozenset()
# Where the reminder trail's policy is built from the settings: every function that reads it
# must get all of its settings, with the same values (followups, billing_api, agent_turn).
TRAIL_POLICY = ("shared.billing_policy", "trail_policy")
# Calls and annotations that make a name a secret source (shared/bootstrap.py).
SECRET_SOURCE_FACTORIES = frozenset({"secrets", "SecretManagerSecrets", "EnvSecrets"})
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
# A function whose code imports one of these modules calls a Google API that needs this role
# on its runtime service account (locals.functions[*].project_roles).
MODULE_ROLES = {"shared.adapters.vertex": "roles/aiplatform.user"}

_HCL_OPTIONS = hcl2.SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LOCAL_REF = re.compile(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)")


# =============================================================================================
# The Terraform side
# =============================================================================================


@dataclass
class RawTerraform:
    """The parsed files of terraform/, merged by block kind (mutable, for the mutation tests)."""

    locals: dict[str, Any]
    resources: dict[tuple[str, str], dict[str, Any]]
    variables: dict[str, dict[str, Any]]
    documents: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Subscription:
    """A subscription as either side declares it (pull subscriptions: topic only)."""

    topic: str
    function: str | None = None
    ordered: bool | None = None
    dead_letter: bool | None = None
    ack_deadline_seconds: int | None = None


@dataclass(frozen=True)
class TfFunction:
    """One entry of local.functions, with local.common_env merged into its env."""

    entry_point: str
    env: Mapping[str, Any]
    own_env: frozenset[str]
    secrets: frozenset[str]
    publishes_to: frozenset[str]
    project_roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TerraformModel:
    """What terraform/ deploys, read from its locals."""

    functions: Mapping[str, TfFunction]
    topics: frozenset[str]
    secret_ids: frozenset[str]
    push_subscriptions: Mapping[str, Subscription]
    pull_subscriptions: Mapping[str, Subscription]
    raw: RawTerraform


def load_hcl(path: Path) -> dict[str, Any]:
    """One HCL file as a dict, string values unquoted, without comments."""
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=_HCL_OPTIONS))


def parse_terraform(directory: Path = TERRAFORM_DIR) -> RawTerraform:
    """Every *.tf file (and environments/*.tfvars, for the role scan) of a directory."""
    raw = RawTerraform(locals={}, resources={}, variables={}, documents={})
    for path in sorted(directory.glob("*.tf")):
        document = load_hcl(path)
        raw.documents[path.name] = document
        for block in document.get("locals", []):
            raw.locals.update(block)
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    raw.resources[(kind, name)] = body
        for block in document.get("variable", []):
            raw.variables.update(block)
    for path in sorted(directory.glob("environments/*.tfvars")):
        raw.documents[f"environments/{path.name}"] = load_hcl(path)
    return raw


def literal_strings(value: Any) -> list[str]:
    """A list's strings, or the quoted strings inside an expression like `${toset([...])}`."""
    if isinstance(value, list):
        return [text for item in value for text in literal_strings(item)]
    if isinstance(value, str):
        return _QUOTED.findall(value) if value.startswith("${") else [value]
    return []


def is_expression(value: Any) -> bool:
    """True for an interpolated value such as `${var.x}`; False for a literal."""
    return isinstance(value, str) and "${" in value


def walk_strings(value: Any) -> Iterator[str]:
    """Every string (keys included) anywhere in a parsed HCL value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def build_model(raw: RawTerraform) -> TerraformModel:
    """The model of functions, topics, secrets and subscriptions declared in the locals."""
    found = raw.locals
    common_env = _mapping(found.get("common_env"))
    functions = {
        name: TfFunction(
            entry_point=str(spec.get("entry_point", "")),
            env={**common_env, **_mapping(spec.get("env"))},
            own_env=frozenset(_mapping(spec.get("env"))),
            secrets=frozenset(literal_strings(spec.get("secrets", []))),
            publishes_to=frozenset(literal_strings(spec.get("publishes_to", []))),
            project_roles=frozenset(literal_strings(spec.get("project_roles", []))),
        )
        for name, spec in _mapping(found.get("functions")).items()
    }
    push = {
        name: Subscription(
            topic=str(spec.get("topic")),
            function=spec.get("function"),
            ordered=spec.get("message_ordering"),
            dead_letter=spec.get("dead_letter"),
            ack_deadline_seconds=spec.get("ack_deadline_seconds"),
        )
        for name, spec in _mapping(found.get("push_subscriptions")).items()
    }
    pull = {
        name: Subscription(topic=str(spec.get("topic")))
        for name, spec in _mapping(found.get("pull_subscriptions")).items()
    }
    return TerraformModel(
        functions=functions,
        topics=frozenset(literal_strings(found.get("topics", []))),
        secret_ids=frozenset(literal_strings(found.get("secret_ids", []))),
        push_subscriptions=push,
        pull_subscriptions=pull,
        raw=raw,
    )


# The model above is read from the locals; these are the resources that turn the locals into
# infrastructure. If one stops reading the local the model assumes, the model is wrong.
WIRING: tuple[tuple[tuple[str, str], tuple[str | int, ...], str], ...] = (
    (("google_cloudfunctions2_function", "function"), ("for_each",), "local.functions"),
    (
        ("google_cloudfunctions2_function", "function"),
        ("build_config", 0, "entry_point"),
        "each.value.entry_point",
    ),
    (
        ("google_cloudfunctions2_function", "function"),
        ("service_config", 0, "environment_variables"),
        "merge(local.common_env, each.value.env)",
    ),
    (("google_pubsub_topic", "topic"), ("for_each",), "local.topics"),
    (("google_pubsub_topic", "topic"), ("name",), "each.key"),
    (("google_pubsub_subscription", "push"), ("for_each",), "local.push_subscriptions"),
    (("google_pubsub_subscription", "push"), ("name",), "each.key"),
    (
        ("google_pubsub_subscription", "push"),
        ("topic",),
        "google_pubsub_topic.topic[each.value.topic].id",
    ),
    (
        ("google_pubsub_subscription", "push"),
        ("ack_deadline_seconds",),
        "each.value.ack_deadline_seconds",
    ),
    (
        ("google_pubsub_subscription", "push"),
        ("enable_message_ordering",),
        "each.value.message_ordering",
    ),
    (
        ("google_pubsub_subscription", "push"),
        ("dynamic", 0, "dead_letter_policy", "for_each"),
        'each.value.dead_letter ? [google_pubsub_topic.topic["dead-letter"].id] : []',
    ),
    (
        ("google_pubsub_subscription", "push"),
        ("push_config", 0, "push_endpoint"),
        "google_cloudfunctions2_function.function[each.value.function].service_config[0].uri",
    ),
    (("google_pubsub_subscription", "pull"), ("for_each",), "local.pull_subscriptions"),
    (("google_pubsub_subscription", "pull"), ("name",), "each.key"),
    (
        ("google_pubsub_subscription", "pull"),
        ("topic",),
        "google_pubsub_topic.topic[each.value.topic].id",
    ),
    (("google_secret_manager_secret", "secret"), ("for_each",), "local.secret_ids"),
    (("google_secret_manager_secret", "secret"), ("secret_id",), "each.key"),
    (
        ("google_secret_manager_secret_iam_member", "function_accessor"),
        ("for_each",),
        "local.function_secret_accessors",
    ),
    (
        ("google_pubsub_topic_iam_member", "function_publisher"),
        ("for_each",),
        "local.function_topic_publishers",
    ),
    (("google_project_iam_member", "function"), ("for_each",), "local.function_project_roles"),
)
# Flattened locals behind the IAM for_each maps, and what each must iterate.
WIRED_LOCALS = {
    "function_secret_accessors": "spec.secrets",
    "function_topic_publishers": "spec.publishes_to",
    "function_project_roles": "local.functions_without_firestore",
}


def _dig(value: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, Mapping) else None
    return value


def check_wiring(raw: RawTerraform) -> list[str]:
    """The resources read the locals the model is built from."""
    problems = []
    for resource, path, expression in WIRING:
        if resource not in raw.resources:
            problems.append(f"resource {'.'.join(resource)} is missing")
            continue
        found = _dig(raw.resources[resource], path)
        normalised = re.sub(r"\s+", " ", str(found)) if found is not None else None
        if normalised != "${" + expression + "}":
            problems.append(
                f"{'.'.join(resource)}: {'.'.join(map(str, path))} is {found!r}, "
                f"expected ${{{expression}}}"
            )
    for name, iterated in WIRED_LOCALS.items():
        if iterated not in str(raw.locals.get(name, "")):
            problems.append(f"local.{name} no longer iterates {iterated}")
    return problems


# =============================================================================================
# The code side
# =============================================================================================


@dataclass(frozen=True)
class SettingSpec:
    """A Settings field: whether it has a default, the default, and its Literal choices."""

    required: bool
    default: Any
    choices: tuple[Any, ...] | None


@dataclass(frozen=True)
class CodeFacts:
    """What the functions need, read from their code."""

    entry_points: Mapping[str, frozenset[str]]
    topology_functions: frozenset[str]
    topics: frozenset[str]
    push_subscriptions: Mapping[str, Subscription]
    pull_subscriptions: Mapping[str, Subscription]
    settings: Mapping[str, SettingSpec]
    settings_read: Mapping[str, frozenset[str]]
    secret_ids: frozenset[str]
    secrets_read: Mapping[str, frozenset[str]] = field(default_factory=dict)
    modules: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # What Cloud Scheduler must publish (shared.topology.TICK_PAYLOAD), and where
    # (the TOPIC_FOLLOWUP_TICKS default).
    tick_payload: bytes | None = None
    tick_topic: str | None = None
    # The settings shared.billing_policy.trail_policy reads.
    trail_settings: frozenset[str] = frozenset()


def _parse(path: Path) -> ast.Module:
    """The module's tree, parsed once per file version (the trees are only read)."""
    return _parse_version(str(path), path.stat().st_mtime_ns)


@cache
def _parse_version(path: str, mtime_ns: int) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)


def _module_file(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` blocks."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _runtime_nodes(other)
            continue
        yield from _runtime_nodes(child)


def _shared_imports(node: ast.AST, root: Path) -> set[str]:
    """`shared.*` modules imported at run time anywhere under a node."""
    modules: set[str] = set()
    for item in _runtime_nodes(node):
        names: list[str] = []
        if isinstance(item, ast.Import):
            names = [alias.name for alias in item.names]
        elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
            names = [item.module] + [f"{item.module}.{alias.name}" for alias in item.names]
        for name in names:
            if name.split(".")[0] == "shared" and _module_file(name, root) is not None:
                modules.add(name)
    return modules


def _with_packages(modules: Iterable[str]) -> set[str]:
    """The modules and every package above them (importing a.b.c runs a/__init__ first)."""
    result: set[str] = set()
    for module in modules:
        parts = module.split(".")
        result.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return result


def _is_source_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in SECRET_SOURCE_FACTORIES


def _annotation_is_source(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation)
    return text.split(".")[-1].strip("'\"") == "SecretSource"


def secret_reads(scope: ast.AST) -> set[str]:
    """Ids in `<secret source>.get("<id>")` calls under a node (one function, usually)."""
    sources: set[str] = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and _is_source_call(node.value):
            sources.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if _annotation_is_source(node.annotation) or (
                node.value is not None and _is_source_call(node.value)
            ):
                sources.add(node.target.id)
        elif isinstance(node, ast.arg) and _annotation_is_source(node.annotation):
            sources.add(node.arg)
    found: set[str] = set()
    for node in ast.walk(scope):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            receiver = node.func.value
            if _is_source_call(receiver) or (
                isinstance(receiver, ast.Name) and receiver.id in sources
            ):
                found.add(node.args[0].value)
    return found


def _scopes(tree: ast.Module) -> list[ast.AST]:
    """The module body and each function in it, so a name's binding stays in its function."""
    scopes: list[ast.AST] = [tree]
    scopes.extend(
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )
    return scopes


def decorated_entry_points(main: Path) -> frozenset[str]:
    """Top-level functions of a main.py decorated with a functions_framework decorator.

    `functions_framework.aio.http` (an ASGI entry point) counts as one too.
    """
    tree = _parse(main)
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "functions_framework"
        for alias in node.names
    }
    names = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if (
                isinstance(target, ast.Attribute)
                and ast.unparse(target.value) in {"functions_framework", "functions_framework.aio"}
            ) or (isinstance(target, ast.Name) and target.id in imported):
                names.add(node.name)
    return frozenset(names)


def settings_specs(settings_cls: type[Settings]) -> dict[str, SettingSpec]:
    """ENV NAME -> spec, for every field of the Settings class (env names are upper-cased)."""
    specs = {}
    for name, info in settings_cls.model_fields.items():
        annotation = info.annotation
        choices = get_args(annotation) if get_origin(annotation) is Literal else None
        required = info.is_required()
        specs[name.upper()] = SettingSpec(
            required=required, default=None if required else info.default, choices=choices
        )
    return specs


def _settings_methods(fields: Iterable[str]) -> dict[str, set[str]]:
    """Settings method -> the fields it reads (`settings.assistant_for()` reads two)."""
    wanted = set(fields)
    methods: dict[str, set[str]] = {}
    for node in ast.walk(_parse(SETTINGS_SOURCE)):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    methods[item.name] = {
                        sub.attr
                        for sub in ast.walk(item)
                        if isinstance(sub, ast.Attribute)
                        and isinstance(sub.value, ast.Name)
                        and sub.value.id == "self"
                        and sub.attr in wanted
                    }
    return methods


@dataclass
class _FunctionCode:
    """The code one function runs: its main.py, the bootstrap builders it reaches, modules."""

    trees: list[ast.AST]
    modules: frozenset[str]


def _function_code(main: Path, bootstrap: Path, root: Path) -> _FunctionCode:
    """main.py, the shared.bootstrap builders it reaches, and the shared modules they import.

    Builders are followed by name through shared/bootstrap.py (they import lazily, one
    function each), so a function is charged only with the builders it uses.
    """
    main_tree = _parse(main)
    boot_tree = _parse(bootstrap)
    builders = {
        node.name: node
        for node in boot_tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    pending = [
        alias.name
        for node in main_tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "shared.bootstrap"
        for alias in node.names
    ]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name in reached or name not in builders:
            continue
        reached.add(name)
        pending.extend(
            sub.id
            for sub in ast.walk(builders[name])
            if isinstance(sub, ast.Name) and sub.id in builders
        )
    modules = _shared_imports(main_tree, root)
    for name in reached:
        modules |= _shared_imports(builders[name], root)
    # Module-level imports of bootstrap (settings, observability) run too.
    for node in boot_tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules |= _shared_imports(node, root)
    seen: set[str] = set()
    queue = sorted(_with_packages(modules))
    trees: list[ast.AST] = [main_tree, *(builders[name] for name in sorted(reached))]
    while queue:
        module = queue.pop()
        # bootstrap is covered builder by builder; settings by its methods.
        if module in seen or module in {"shared.bootstrap", "shared.settings"}:
            continue
        seen.add(module)
        path = _module_file(module, root)
        if path is None:
            continue
        tree = _parse(path)
        trees.append(tree)
        queue.extend(sorted(_with_packages(_shared_imports(tree, root)) - seen))
    return _FunctionCode(trees=trees, modules=frozenset(seen))


def policy_settings(
    module: str, function: str, fields: Iterable[str], root: Path = REPO_ROOT
) -> frozenset[str]:
    """ENV NAMES of the Settings fields one function of a module reads (`settings.x`)."""
    path = _module_file(module, root)
    if path is None:
        return frozenset()
    wanted = set(fields)
    return frozenset(
        sub.attr.upper()
        for node in _parse(path).body
        if isinstance(node, ast.FunctionDef) and node.name == function
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute) and sub.attr in wanted
    )


def collect_code_facts(
    *,
    functions_dir: Path = FUNCTIONS_DIR,
    bootstrap: Path = BOOTSTRAP,
    root: Path = REPO_ROOT,
    topology: ModuleType = topology_module,
    settings_cls: type[Settings] = Settings,
    secrets: ModuleType = secrets_module,
) -> CodeFacts:
    """Functions, topics, subscriptions, settings and secrets as the code has them."""
    mains = {path.parent.name: path for path in sorted(functions_dir.glob("*/main.py"))}
    specs = settings_specs(settings_cls)
    fields = {name.lower() for name in specs}
    methods = _settings_methods(fields)
    settings_read: dict[str, frozenset[str]] = {}
    secrets_read: dict[str, frozenset[str]] = {}
    modules: dict[str, frozenset[str]] = {}
    for name, main in mains.items():
        code = _function_code(main, bootstrap, root)
        modules[name] = code.modules
        read: set[str] = set()
        got: set[str] = set()
        for tree in code.trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute):
                    if node.attr in fields:
                        read.add(node.attr)
                    read |= methods.get(node.attr, set())
            for scope in _scopes(tree) if isinstance(tree, ast.Module) else [tree]:
                got |= secret_reads(scope)
        settings_read[name] = frozenset(attr.upper() for attr in read)
        secrets_read[name] = frozenset(got)
    declared = getattr(secrets, "SECRET_IDS", ())
    secret_ids = frozenset(secrets.LOCAL_DEFAULTS) | frozenset(declared)
    for function_reads in secrets_read.values():
        secret_ids |= function_reads
    return CodeFacts(
        entry_points={name: decorated_entry_points(main) for name, main in mains.items()},
        topology_functions=frozenset(topology.FUNCTIONS),
        topics=frozenset(topology.TOPICS),
        push_subscriptions={
            sub.name: Subscription(
                topic=sub.topic,
                function=sub.function,
                ordered=sub.ordered,
                dead_letter=sub.dead_letter,
                ack_deadline_seconds=sub.ack_deadline_seconds,
            )
            for sub in topology.PUSH_SUBSCRIPTIONS
        },
        pull_subscriptions={
            name: Subscription(topic=topic) for name, topic in topology.PULL_SUBSCRIPTIONS.items()
        },
        settings=specs,
        settings_read=settings_read,
        secret_ids=secret_ids,
        secrets_read=secrets_read,
        modules=modules,
        tick_payload=getattr(topology, "TICK_PAYLOAD", None),
        tick_topic=(
            specs["TOPIC_FOLLOWUP_TICKS"].default if "TOPIC_FOLLOWUP_TICKS" in specs else None
        ),
        trail_settings=policy_settings(*TRAIL_POLICY, fields, root),
    )


# =============================================================================================
# The checks: each returns the problems it found, empty when Terraform matches the code
# =============================================================================================


def check_functions(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Every functions/<dir>/main.py is deployed, and with an entry point it decorates."""
    problems = [
        f"functions/{name}/main.py is not deployed: no `{name}` in terraform local.functions"
        for name in sorted(code.entry_points.keys() - tf.functions.keys())
    ]
    problems += [
        f"terraform function {name} has no functions/{name}/main.py"
        for name in sorted(tf.functions.keys() - code.entry_points.keys())
    ]
    problems += [
        f"shared.topology.FUNCTIONS lists {name}, which has no functions/{name}/main.py"
        for name in sorted(code.topology_functions - code.entry_points.keys())
    ]
    for name in sorted(tf.functions.keys() & code.entry_points.keys()):
        entry_point = tf.functions[name].entry_point
        if entry_point not in code.entry_points[name]:
            problems.append(
                f"terraform function {name}: entry point {entry_point!r} is not a "
                f"functions_framework-decorated function in functions/{name}/main.py "
                f"(decorated: {sorted(code.entry_points[name])})"
            )
    return problems


def check_topics(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """The topics are the same on both sides; functions publish only to declared topics."""
    problems = [
        f"topic {topic} (shared.topology.TOPICS) is not declared in terraform local.topics"
        for topic in sorted(code.topics - tf.topics)
    ]
    problems += [
        f"terraform topic {topic} is not in shared.topology.TOPICS"
        for topic in sorted(tf.topics - code.topics)
    ]
    for name, spec in sorted(tf.functions.items()):
        problems += [
            f"terraform function {name} publishes to undeclared topic {topic}"
            for topic in sorted(spec.publishes_to - tf.topics)
        ]
    return problems


def _compare_subscriptions(
    kind: str, tf_subs: Mapping[str, Subscription], code_subs: Mapping[str, Subscription]
) -> list[str]:
    problems = [
        f"{kind} subscription {name} (shared.topology) is not declared in terraform"
        for name in sorted(code_subs.keys() - tf_subs.keys())
    ]
    problems += [
        f"terraform {kind} subscription {name} is not in shared.topology"
        for name in sorted(tf_subs.keys() - code_subs.keys())
    ]
    for name in sorted(code_subs.keys() & tf_subs.keys()):
        ours, theirs = code_subs[name], tf_subs[name]
        for attribute in ("topic", "function", "ordered", "dead_letter", "ack_deadline_seconds"):
            want, have = getattr(ours, attribute), getattr(theirs, attribute)
            if want != have:
                problems.append(
                    f"{kind} subscription {name}: {attribute} is {have!r} in terraform, "
                    f"{want!r} in shared.topology"
                )
    return problems


def check_subscriptions(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Push and pull subscriptions: same names, topics, functions, ordering, dead letters."""
    problems = _compare_subscriptions("push", tf.push_subscriptions, code.push_subscriptions)
    problems += _compare_subscriptions("pull", tf.pull_subscriptions, code.pull_subscriptions)
    for name, sub in sorted({**tf.push_subscriptions, **tf.pull_subscriptions}.items()):
        if sub.topic not in tf.topics:
            problems.append(f"terraform subscription {name} reads undeclared topic {sub.topic}")
        if sub.function is not None and sub.function not in tf.functions:
            problems.append(f"terraform subscription {name} pushes to unknown {sub.function}")
    return problems


def _variable_choices(raw: RawTerraform, variable: str) -> list[str] | None:
    """The values a `contains([...], var.x)` validation allows, or None without one."""
    for rule in raw.variables.get(variable, {}).get("validation", []):
        condition = str(rule.get("condition", ""))
        match = re.search(rf"contains\(\[([^\]]*)\],\s*var\.{variable}\)", condition)
        if match:
            return _QUOTED.findall(match.group(1))
    return None


def check_environment(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Each function gets the variables it needs, and only variables the code knows."""
    problems = []
    required_everywhere = {name for name, spec in code.settings.items() if spec.required}
    for name, spec in sorted(tf.functions.items()):
        env = spec.env
        for variable in sorted(env):
            if variable in RESERVED_ENV:
                problems.append(f"{name}: sets {variable}, which Cloud Run reserves")
            elif variable not in code.settings and variable not in RUNTIME_ENV:
                problems.append(
                    f"{name}: sets {variable}, which is not a shared.settings.Settings field "
                    f"(a typo?)"
                )
        reads = code.settings_read.get(name, frozenset())
        problems += [
            f"{name}: sets {variable}, which its code never reads"
            for variable in sorted(spec.own_env - reads - ALWAYS_SET - RUNTIME_ENV)
            if variable in code.settings
        ]
        topic_vars = {variable for variable in reads if variable.startswith("TOPIC_")}
        needed = ALWAYS_SET | required_everywhere | topic_vars
        problems += [
            f"{name}: does not set {variable}, which it needs in the cloud"
            for variable in sorted(needed - env.keys())
        ]
        for variable, value in sorted(env.items()):
            setting = code.settings.get(variable)
            if setting is None:
                continue
            if is_expression(value):
                match = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", str(value))
                if setting.choices and match:
                    allowed = _variable_choices(tf.raw, match.group(1))
                    if allowed is None:
                        problems.append(
                            f"{name}: {variable} comes from var.{match.group(1)}, which does not "
                            f"restrict its values to {list(setting.choices)}"
                        )
                    else:
                        problems += [
                            f"{name}: var.{match.group(1)} allows {choice!r}, which {variable} "
                            f"rejects"
                            for choice in allowed
                            if choice not in setting.choices
                        ]
                continue
            if setting.choices and value not in setting.choices:
                problems.append(
                    f"{name}: {variable}={value!r} is not one of {list(setting.choices)}"
                )
            if variable.startswith("TOPIC_"):
                if value != setting.default:
                    problems.append(
                        f"{name}: {variable}={value!r}, but the code and the local stack use "
                        f"{setting.default!r}"
                    )
                if value not in tf.topics:
                    problems.append(f"{name}: {variable}={value!r} is not a declared topic")
        published = {
            code.settings[variable].default for variable in topic_vars if variable in code.settings
        }
        problems += [
            f"{name}: publishes to {topic} but terraform grants no publisher role on it "
            f"(publishes_to)"
            for topic in sorted(published - spec.publishes_to)
        ]
        problems += [
            f"{name}: terraform grants publish on {topic}, which the code never publishes to"
            for topic in sorted(spec.publishes_to - published)
        ]
    return problems


def check_secrets(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Every secret the code reads exists; each function may read exactly what it reads."""
    problems = [
        f"secret {secret} is read by the code but not declared in terraform local.secret_ids"
        for secret in sorted(code.secret_ids - tf.secret_ids)
    ]
    problems += [
        f"terraform declares secret {secret}, which no code reads"
        for secret in sorted(tf.secret_ids - code.secret_ids)
    ]
    for name, spec in sorted(tf.functions.items()):
        reads = code.secrets_read.get(name, frozenset())
        problems += [
            f"{name}: reads secret {secret} but has no secretAccessor on it"
            for secret in sorted(reads - spec.secrets)
        ]
        problems += [
            f"{name}: may read secret {secret}, which its code never reads"
            for secret in sorted(spec.secrets - reads)
        ]
        problems += [
            f"{name}: lists undeclared secret {secret}"
            for secret in sorted(spec.secrets - tf.secret_ids)
        ]
    return problems


def check_api_roles(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """A function that calls a Google API has the role for it, and only then."""
    problems = []
    for name, spec in sorted(tf.functions.items()):
        uses = code.modules.get(name, frozenset())
        for module, role in sorted(MODULE_ROLES.items()):
            if module in uses and role not in spec.project_roles:
                problems.append(f"{name}: uses {module} but lacks {role} (project_roles)")
            if module not in uses and role in spec.project_roles:
                problems.append(f"{name}: has {role} but never uses {module}")
    return problems


def _locals_closure(expressions: Iterable[str], found: Mapping[str, Any]) -> set[str]:
    """The locals some expressions refer to, and the locals those refer to, transitively."""
    pending = [name for text in expressions for name in _LOCAL_REF.findall(text)]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name not in found:
            continue
        seen.add(name)
        pending.extend(
            ref for text in walk_strings(found[name]) for ref in _LOCAL_REF.findall(text)
        )
    return seen


def project_roles(body: Mapping[str, Any], found: Mapping[str, Any]) -> set[str]:
    """Every role a project-level IAM resource may grant, through its for_each and locals."""
    role = body.get("role")
    if isinstance(role, str) and not is_expression(role):
        return {role}
    texts = [str(role), str(body.get("for_each", ""))]
    roles = {match for text in texts for match in ROLE.findall(text)}
    for name in _locals_closure(texts, found):
        roles |= {match for text in walk_strings(found[name]) for match in ROLE.findall(text)}
    return roles


def check_iam(raw: RawTerraform) -> list[str]:
    """No primitive role anywhere; no project-level secret access; no authoritative policy."""
    parsed: dict[str, Any] = {
        **raw.documents,
        "locals": raw.locals,
        **{f"resource {kind}.{name}": body for (kind, name), body in raw.resources.items()},
    }
    problems = sorted(
        {
            f"{where}: primitive role in {text!r}"
            for where, value in parsed.items()
            for text in walk_strings(value)
            if PRIMITIVE_ROLE.search(text)
        }
    )
    for (kind, name), body in sorted(raw.resources.items()):
        if kind not in PROJECT_IAM:
            continue
        if kind == "google_project_iam_policy":
            problems.append(f"{kind}.{name}: an authoritative project policy drops other grants")
        problems += [
            f"{kind}.{name}: grants {role} on the whole project"
            for role in sorted(project_roles(body, raw.locals) & FORBIDDEN_PROJECT_ROLES)
        ]
    return problems


_TOPIC_ID = re.compile(r'\$\{google_pubsub_topic\.topic\["([^"]+)"\]\.id\}')
_BASE64_LITERAL = re.compile(r'\$\{base64encode\("((?:[^"\\]|\\.)*)"\)\}')


def _literal_payload(value: Any) -> bytes | None:
    """The bytes of `base64encode("<HCL string literal>")`; None for anything else."""
    match = _BASE64_LITERAL.fullmatch(str(value))
    if match is None or "${" in match.group(1) or "%{" in match.group(1):
        return None
    try:
        # HCL's escapes in a literal without templates (\" \\ \n \t \uNNNN) are JSON's.
        return str(json.loads(f'"{match.group(1)}"')).encode("utf-8")
    except ValueError:
        return None


def check_scheduler(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Cloud Scheduler publishes exactly shared.topology.TICK_PAYLOAD to the tick topic."""
    problems = []
    jobs: dict[str, tuple[str, bytes | None]] = {}
    for (kind, name), body in sorted(tf.raw.resources.items()):
        if kind != "google_cloud_scheduler_job":
            continue
        target = _dig(body, ("pubsub_target", 0))
        if not isinstance(target, Mapping):
            problems.append(f"scheduler job {name}: no pubsub_target")
            continue
        topic = _TOPIC_ID.fullmatch(str(target.get("topic_name", "")))
        if topic is None:
            problems.append(
                f"scheduler job {name}: topic_name {target.get('topic_name')!r} is not "
                f'google_pubsub_topic.topic["<topic>"].id'
            )
            continue
        if topic.group(1) not in tf.topics:
            problems.append(f"scheduler job {name}: publishes to undeclared topic {topic.group(1)}")
        jobs[name] = (topic.group(1), _literal_payload(target.get("data")))
    if code.tick_topic is None or code.tick_payload is None:
        return problems
    tickers = {name: data for name, (topic, data) in jobs.items() if topic == code.tick_topic}
    if not tickers:
        problems.append(
            f"no Cloud Scheduler job publishes to {code.tick_topic}: nothing ticks the follow-ups"
        )
    for name, data in sorted(tickers.items()):
        if data is None:
            problems.append(
                f'scheduler job {name}: data is not base64encode("<literal>"), so it cannot be '
                f"compared with shared.topology.TICK_PAYLOAD"
            )
        elif data != code.tick_payload:
            try:
                same_json = json.loads(data) == json.loads(code.tick_payload)
            except ValueError:
                same_json = False
            problems.append(
                f"scheduler job {name}: publishes {data!r}, shared.topology.TICK_PAYLOAD is "
                f"{code.tick_payload!r}" + (" (same JSON, other bytes)" if same_json else "")
            )
    if not any(sub.topic == code.tick_topic for sub in tf.push_subscriptions.values()):
        problems.append(f"topic {code.tick_topic} has no push subscription: no function ticks")
    return problems


def check_shared_settings(
    tf: TerraformModel, code: CodeFacts, may_differ: frozenset[str] = MAY_DIFFER
) -> list[str]:
    """A setting several functions get has one value; the trail policy comes whole."""
    problems = []
    values: dict[str, dict[str, str]] = {}
    for name, spec in tf.functions.items():
        for variable in spec.own_env:
            values.setdefault(variable, {})[name] = re.sub(r"\s+", " ", str(spec.env[variable]))
    for variable, by_function in sorted(values.items()):
        if variable not in may_differ and len(set(by_function.values())) > 1:
            problems.append(
                f"{variable} differs between functions: "
                + ", ".join(f"{name}={value!r}" for name, value in sorted(by_function.items()))
            )
    for name, spec in sorted(tf.functions.items()):
        if code.settings_read.get(name, frozenset()) & code.trail_settings:
            missing = sorted(code.trail_settings - spec.env.keys())
            if missing:
                problems.append(
                    f"{name}: reads the reminder trail's policy but does not set "
                    f"{', '.join(missing)} (every reader must see the same trail)"
                )
    return problems


def runtime_roles(tf: TerraformModel, name: str) -> set[str]:
    """The project roles a function's account gets (locals.function_project_roles)."""
    roles = set(literal_strings(tf.raw.locals.get("runtime_project_roles", [])))
    if name in literal_strings(tf.raw.locals.get("functions_without_firestore", [])):
        roles.discard("roles/datastore.user")
    return roles | set(tf.functions[name].project_roles)


def check_firestore_roles(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """A function whose code uses a Firestore adapter may use Firestore."""
    problems = []
    for name in sorted(tf.functions):
        uses = sorted(
            module
            for module in code.modules.get(name, frozenset())
            if module.startswith(FIRESTORE_MODULE_PREFIX)
        )
        if uses and not runtime_roles(tf, name) & FIRESTORE_ROLES:
            problems.append(
                f"{name}: uses {', '.join(uses)} but has no Firestore role "
                f"({', '.join(sorted(FIRESTORE_ROLES))})"
            )
    return problems


def check_public_access(raw: RawTerraform) -> list[str]:
    """Only the webhook is public: no other grant to allUsers or allAuthenticatedUsers."""
    problems = []
    for (kind, name), body in sorted(raw.resources.items()):
        if (kind, name) in PUBLIC_GRANTS:
            continue
        found = sorted(
            {member for text in walk_strings(body) for member in PUBLIC_MEMBERS if member in text}
        )
        if found:
            problems.append(f"{kind}.{name}: grants to {', '.join(found)}")
    public = {
        name
        for name, spec in _mapping(raw.locals.get("functions")).items()
        if _mapping(spec).get("public") is not False
    }
    problems += [
        f"function {name} is public (public = true or not false)"
        for name in sorted(public - PUBLIC_FUNCTIONS)
    ]
    return problems


def all_problems(tf: TerraformModel, code: CodeFacts) -> list[str]:
    """Every check at once."""
    return [
        *check_wiring(tf.raw),
        *check_functions(tf, code),
        *check_topics(tf, code),
        *check_subscriptions(tf, code),
        *check_environment(tf, code),
        *check_secrets(tf, code),
        *check_api_roles(tf, code),
        *check_iam(tf.raw),
        *check_scheduler(tf, code),
        *check_shared_settings(tf, code),
        *check_firestore_roles(tf, code),
        *check_public_access(tf.raw),
    ]


# =============================================================================================
# Log-based metrics against the log lines the code writes
# =============================================================================================


@dataclass(frozen=True)
class LogLine:
    """A log call the code makes, with example arguments, and what a metric should see."""

    logger: str
    template: str
    args: tuple[object, ...]
    counted: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float | None = None

    def render(self) -> str:
        """The message as the formatter writes it."""
        return self.template % self.args


_TURN = "turn %s answered %d message(s) of %s via %s in %.0f ms"
_HANDOFF = "turn %s hands %s to an analyst via %s (%s)"
_INTAKE = "shared.handlers.intake"
_AGENT = "shared.handlers.agent_turn"
_OUTBOUND = "shared.handlers.outbound"

# Per message-based metric: lines it must count (with their labels and value) and lines of
# the same function it must not count.
LOG_LINES: dict[str, tuple[LogLine, ...]] = {
    "atende/messages_in": (
        LogLine(_INTAKE, "message %s from %s wakes the agent", ("wamid.A1", "c-1a2b3c4d5e")),
        LogLine(
            _INTAKE,
            "stored %s message %s from %s, no agent turn",
            ("text", "wamid.A2", "c-1a2b3c4d5e"),
        ),
        LogLine(_INTAKE, "duplicate message %s from %s", ("wamid.A1", "c-1"), counted=False),
        LogLine(_INTAKE, "status %s for %s", ("read", "wamid.A3"), counted=False),
    ),
    "atende/turns": (
        LogLine(
            _AGENT,
            _TURN,
            ("turn-1f2e", 2, "c-1", "sac", 812.4),
            labels={"route": "sac"},
        ),
        LogLine(_AGENT, _TURN, ("turn-1f2f", 1, "c-1", "human", 95.0), labels={"route": "human"}),
        LogLine(
            _AGENT,
            "turn for %s skipped: another turn holds the lease",
            ("c-1",),
            counted=False,
        ),
    ),
    "atende/handoffs": (
        LogLine(
            _AGENT,
            _HANDOFF,
            ("turn-1", "c-1", "sac", "full"),
            labels={"route": "sac", "kind": "full"},
        ),
        LogLine(
            _AGENT,
            _HANDOFF,
            ("turn-2", "c-1", "data", "partial"),
            labels={"route": "data", "kind": "partial"},
        ),
        LogLine(_AGENT, _TURN, ("turn-3", 1, "c-1", "sac", 80.0), counted=False),
        LogLine(_AGENT, _TURN, ("turn-4", 1, "c-1", "small_talk", 12.0), counted=False),
    ),
    "atende/turn_latency": (
        LogLine(
            _AGENT,
            _TURN,
            ("turn-1", 2, "c-1", "sac", 812.4),
            labels={"route": "sac"},
            value=812.0,
        ),
        LogLine(_AGENT, "turn %s lost its messages to another turn", ("turn-1",), counted=False),
    ),
    "atende/outbound_failures": (
        LogLine(
            _OUTBOUND,
            "send %s to %s failed permanently: HTTP %s code %s: %s",
            ("turn-1:0", "c-1", 400, 131047, "Re-engagement message"),
            labels={"http_status": "400", "error_code": "131047"},
        ),
        LogLine(
            _OUTBOUND,
            "send %s to %s failed permanently: HTTP %s code %s: %s",
            ("turn-1:1", "c-1", None, None, "outside the 24-hour customer-service window"),
            labels={"http_status": "None", "error_code": "None"},
        ),
        LogLine(_OUTBOUND, "sent %s to %s as %s", ("turn-1:0", "c-1", "wamid.X"), counted=False),
        LogLine(_OUTBOUND, "send %s skipped: %s", ("turn-1:0", "done"), counted=False),
    ),
    "atende/dead_letters": (
        LogLine(
            "shared.handlers.dead_letter",
            "dead letter %s from %s: %s",
            ("1234567", "intake", "payload is not JSON: Expecting value"),
            labels={"source": "intake"},
        ),
        LogLine(
            "shared.handlers.dead_letter",
            "dead letter %s from %s: %s",
            (
                "7654321",
                "projects/p/subscriptions/outbound-outbound",
                "delivery attempts exhausted (10) on projects/p/subscriptions/outbound-outbound",
            ),
            labels={"source": "projects/p/subscriptions/outbound-outbound"},
        ),
        # Logged by the function that parks a message; counted once the recorder stores it.
        LogLine(
            "shared.handlers.pubsub_event",
            "dead-lettered message %s from %s: %s",
            ("1234567", "intake", "payload is not JSON"),
            counted=False,
        ),
    ),
}

# Metrics on structured fields (jsonPayload.event) the code does not write yet. When the code
# starts writing one (as a string constant), check_log_metrics asks for it to leave this set.
AWAITING_CODE: frozenset[str] = frozenset()

_EXTRACT = re.compile(r'REGEXP_EXTRACT\(jsonPayload\.message, "((?:[^"\\]|\\.)*)"\)')


def logger_templates(logger: str, root: Path = REPO_ROOT) -> set[str]:
    """Format strings of the logging calls in the module a logger is named after."""
    path = _module_file(logger, root)
    if path is None:
        return set()
    return {
        node.args[0].value
        for node in ast.walk(_parse(path))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in LOG_METHODS
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _field_filter(text: str, key: str, operator: str) -> str | None:
    match = re.search(rf'{re.escape(key)}{operator}"((?:[^"\\]|\\.)*)"', text)
    return match.group(1) if match else None


def check_log_metric(
    name: str, body: Mapping[str, Any], lines: Iterable[LogLine], root: Path = REPO_ROOT
) -> list[str]:
    """A message-based metric counts exactly the lines it should, with the right labels."""
    text = str(body.get("filter", ""))
    logger = _field_filter(text, "jsonPayload.logger", "=")
    pattern = _field_filter(text, "jsonPayload.message", "=~")
    if logger is None or pattern is None:
        return [f"{name}: filters neither on jsonPayload.event nor on a logger and its message"]
    problems = []
    extractors = {key: str(value) for key, value in _mapping(body.get("label_extractors")).items()}
    declared = {
        label["key"]
        for descriptor in body.get("metric_descriptor", [])
        for label in descriptor.get("labels", [])
    }
    if declared != extractors.keys():
        problems.append(f"{name}: labels {sorted(declared)} but extractors {sorted(extractors)}")
    lines = list(lines)
    if not any(line.counted for line in lines):
        problems.append(f"{name}: no example line that it counts")
    for line in lines:
        if line.template not in logger_templates(line.logger, root):
            problems.append(
                f"{name}: {line.logger} no longer logs {line.template!r} (update the metric "
                f"and the example)"
            )
            continue
        message = line.render()
        counted = line.logger == logger and re.search(pattern, message) is not None
        if counted != line.counted:
            verb = "misses" if line.counted else "also counts"
            problems.append(f"{name}: {verb} {line.logger} line {message!r}")
            continue
        if not counted:
            continue
        for key, extractor in extractors.items():
            match = _EXTRACT.fullmatch(extractor)
            got = re.search(match.group(1), message) if match else None
            want = line.labels.get(key)
            if got is None or got.group(1) != want:
                problems.append(
                    f"{name}: label {key} of {message!r} is "
                    f"{got.group(1) if got else None!r}, expected {want!r}"
                )
        if line.value is not None:
            match = _EXTRACT.fullmatch(str(body.get("value_extractor", "")))
            got = re.search(match.group(1), message) if match else None
            if got is None or float(got.group(1)) != line.value:
                problems.append(f"{name}: value of {message!r} is not {line.value}")
    return problems


def events_written(events: Iterable[str], root: Path = REPO_ROOT) -> set[str]:
    """Which of these event names the deployed code has as a string constant."""
    wanted = set(events)
    found = set()
    for path in sorted([*root.glob("shared/**/*.py"), *root.glob("functions/*/main.py")]):
        if "localstack" in path.parts:
            continue
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.Constant) and node.value in wanted:
                found.add(str(node.value))
    return found


def check_log_metrics(
    raw: RawTerraform,
    lines: Mapping[str, Iterable[LogLine]] = LOG_LINES,
    root: Path = REPO_ROOT,
    awaiting: frozenset[str] = AWAITING_CODE,
) -> list[str]:
    """Every log-based metric matches real log lines, or an event the code writes or will."""
    problems = []
    events: dict[str, str] = {}
    for (kind, _), body in sorted(raw.resources.items()):
        if kind != "google_logging_metric":
            continue
        name = str(body.get("name"))
        event = _field_filter(str(body.get("filter", "")), "jsonPayload.event", "=")
        if event is not None:
            events[name] = event
        elif name not in lines:
            problems.append(f"{name}: no example log lines in LOG_LINES")
        else:
            problems += check_log_metric(name, body, lines[name], root)
    written = events_written(events.values(), root)
    for name, event in sorted(events.items()):
        if event in written and event in awaiting:
            problems.append(
                f"{name}: the code now writes event {event!r}; drop it from AWAITING_CODE"
            )
        elif event not in written and event not in awaiting:
            problems.append(f"{name}: no code writes event {event!r}")
    return problems


# =============================================================================================
# Tests: the repository as it is
# =============================================================================================


@cache
def _raw() -> RawTerraform:
    return parse_terraform()


@pytest.fixture
def raw() -> RawTerraform:
    """A private copy of the parsed terraform/ (tests may mutate it)."""
    return copy.deepcopy(_raw())


@pytest.fixture
def tf(raw: RawTerraform) -> TerraformModel:
    """The Terraform model of the repository."""
    return build_model(raw)


@pytest.fixture(scope="module")
def code() -> CodeFacts:
    """The code facts of the repository."""
    return collect_code_facts()


def test_resources_are_wired_to_the_locals(raw: RawTerraform) -> None:
    assert check_wiring(raw) == []


def test_every_function_is_deployed_with_its_entry_point(
    tf: TerraformModel, code: CodeFacts
) -> None:
    assert code.entry_points, "no functions/*/main.py found"
    assert check_functions(tf, code) == []


def test_topics_match(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_topics(tf, code) == []


def test_subscriptions_match(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_subscriptions(tf, code) == []


def test_every_function_gets_the_environment_it_reads(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_environment(tf, code) == []


def test_secrets_exist_and_grants_match_reads(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_secrets(tf, code) == []


def test_functions_calling_google_apis_have_the_role(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_api_roles(tf, code) == []


def test_no_primitive_role_and_no_project_level_secret_access(raw: RawTerraform) -> None:
    assert check_iam(raw) == []


def test_log_based_metrics_match_the_log_lines(raw: RawTerraform) -> None:
    assert check_log_metrics(raw) == []


def test_the_scheduler_publishes_the_tick_payload(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_scheduler(tf, code) == []
    # The same thing spelled out: the job's data is TICK_PAYLOAD, JSON and bytes alike.
    job = tf.raw.resources[("google_cloud_scheduler_job", "followup_tick")]
    target = job["pubsub_target"][0]
    assert target["topic_name"] == '${google_pubsub_topic.topic["followup-ticks"].id}'
    data = _literal_payload(target["data"])
    assert data is not None
    assert json.loads(data) == json.loads(topology_module.TICK_PAYLOAD)
    assert data == topology_module.TICK_PAYLOAD


def test_settings_several_functions_get_agree(tf: TerraformModel, code: CodeFacts) -> None:
    assert check_shared_settings(tf, code) == []


def test_functions_using_firestore_have_a_firestore_role(
    tf: TerraformModel, code: CodeFacts
) -> None:
    assert check_firestore_roles(tf, code) == []


def test_only_the_webhook_is_public(raw: RawTerraform) -> None:
    assert check_public_access(raw) == []


def test_the_code_facts_see_what_the_functions_do(code: CodeFacts) -> None:
    # A guard on the analysis itself: if these drift, the checks above check less.
    assert code.secrets_read["webhook"] == {
        "whatsapp-app-secret",
        "whatsapp-verify-token",
        "log-pseudonym-key",
    }
    assert code.secrets_read["outbound"] == {"whatsapp-access-token", "log-pseudonym-key"}
    assert "TOPIC_INBOUND" in code.settings_read["webhook"]
    assert {"TOPIC_OUTBOUND", "TOPIC_HANDOFFS", "TOPIC_AGENT_TURNS"} <= code.settings_read[
        "agent_turn"
    ]
    assert "TOPIC_OUTBOUND" not in code.settings_read["intake"]
    assert code.tick_payload == topology_module.TICK_PAYLOAD
    assert code.tick_topic == "followup-ticks"
    assert {"FOLLOWUP_CADENCE", "FOLLOWUP_SEND_WINDOW", "FOLLOWUP_TIME_ZONE"} <= code.trail_settings
    assert "FOLLOWUP_BATCH" not in code.trail_settings
    assert code.trail_settings <= code.settings_read["followups"]


def test_the_model_sees_what_terraform_declares(tf: TerraformModel) -> None:
    assert tf.functions["webhook"].env["ATENDE_ENV"] == "${var.environment}"
    assert "inbound" in tf.functions["webhook"].publishes_to
    assert tf.push_subscriptions["agent-turns-agent-turn"].ack_deadline_seconds == 600
    assert tf.push_subscriptions["followup-ticks-followups"].function == "followups"
    assert "roles/datastore.viewer" in runtime_roles(tf, "tools_hub")
    assert "roles/datastore.user" not in runtime_roles(tf, "tools_hub")
    assert "roles/datastore.user" in runtime_roles(tf, "billing_api")


# =============================================================================================
# Mutation tests: the checks bite when code and Terraform drift apart
# =============================================================================================


def _copy_functions(tmp_path: Path) -> Path:
    target = tmp_path / "functions"
    shutil.copytree(FUNCTIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_a_new_function_in_code_is_reported(tf: TerraformModel, tmp_path: Path) -> None:
    functions = _copy_functions(tmp_path)
    (functions / "nightly_report").mkdir()
    (functions / "nightly_report" / "main.py").write_text(
        "import functions_framework\n\n\n"
        "@functions_framework.cloud_event\n"
        "def nightly_report(cloud_event):\n"
        "    pass\n",
        encoding="utf-8",
    )
    problems = check_functions(tf, collect_code_facts(functions_dir=functions))
    assert any("functions/nightly_report/main.py is not deployed" in p for p in problems), problems


def test_a_wrong_entry_point_is_reported(raw: RawTerraform, code: CodeFacts) -> None:
    raw.locals["functions"]["intake"]["entry_point"] = "handle_intake"
    problems = check_functions(build_model(raw), code)
    assert any("'handle_intake'" in p for p in problems), problems


def test_a_new_topic_in_code_is_reported(
    tf: TerraformModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topology_module, "TOPICS", (*topology_module.TOPICS, "report-ticks"))
    problems = check_topics(tf, collect_code_facts())
    assert any("topic report-ticks" in p for p in problems), problems


def test_a_changed_or_new_subscription_in_code_is_reported(
    tf: TerraformModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    subs = list(topology_module.PUSH_SUBSCRIPTIONS)
    subs[0] = replace(subs[0], ack_deadline_seconds=120)
    subs.append(topology_module.PushSubscription("inbound-report", "inbound", "intake"))
    monkeypatch.setattr(topology_module, "PUSH_SUBSCRIPTIONS", tuple(subs))
    monkeypatch.setitem(topology_module.PULL_SUBSCRIPTIONS, "outbound-audit", "outbound")
    problems = check_subscriptions(tf, collect_code_facts())
    assert any(f"{subs[0].name}: ack_deadline_seconds" in p for p in problems), problems
    assert any("inbound-report" in p for p in problems), problems
    assert any("outbound-audit" in p for p in problems), problems


class _SettingsWithRegion(Settings):
    """Settings with one more field that has no default: every function must set it."""

    atende_region: str


def test_a_new_required_setting_is_reported_for_every_function(
    tf: TerraformModel, code: CodeFacts
) -> None:
    problems = check_environment(tf, collect_code_facts(settings_cls=_SettingsWithRegion))
    missing = [p for p in problems if "does not set ATENDE_REGION" in p]
    assert len(missing) == len(tf.functions), problems


def test_a_new_topic_a_function_publishes_to_is_reported(
    tf: TerraformModel, tmp_path: Path
) -> None:
    functions = _copy_functions(tmp_path)
    main = functions / "outbound" / "main.py"
    main.write_text(
        main.read_text(encoding="utf-8") + "\n\nHANDOFFS = get_settings().topic_handoffs\n",
        encoding="utf-8",
    )
    problems = check_environment(tf, collect_code_facts(functions_dir=functions))
    assert "outbound: does not set TOPIC_HANDOFFS, which it needs in the cloud" in problems
    assert any("outbound: publishes to handoffs" in p for p in problems), problems


def test_a_typo_in_a_terraform_variable_is_reported(raw: RawTerraform, code: CodeFacts) -> None:
    env = raw.locals["functions"]["outbound"]["env"]
    env["TOPIC_DEAD_LETER"] = env.pop("TOPIC_DEAD_LETTER")
    problems = check_environment(build_model(raw), code)
    assert any("sets TOPIC_DEAD_LETER, which is not" in p for p in problems), problems
    assert "outbound: does not set TOPIC_DEAD_LETTER, which it needs in the cloud" in problems


def test_a_variable_set_for_the_wrong_function_is_reported(
    raw: RawTerraform, code: CodeFacts
) -> None:
    raw.locals["functions"]["intake"]["env"]["KB_MIN_SCORE"] = "${tostring(var.kb_min_score)}"
    problems = check_environment(build_model(raw), code)
    assert "intake: sets KB_MIN_SCORE, which its code never reads" in problems


def test_a_bad_literal_or_an_unrestricted_variable_is_reported(
    raw: RawTerraform, code: CodeFacts
) -> None:
    raw.locals["common_env"]["SECRETS_BACKEND"] = "vault"
    raw.locals["functions"]["agent_turn"]["env"]["KB_BACKEND"] = "${var.kb_backend}"
    raw.variables["kb_backend"]["validation"] = []
    problems = check_environment(build_model(raw), code)
    assert any("SECRETS_BACKEND='vault'" in p for p in problems), problems
    assert any("var.kb_backend, which does not restrict" in p for p in problems), problems


def test_a_new_secret_in_code_is_reported(
    tf: TerraformModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(secrets_module.LOCAL_DEFAULTS, "gemini-api-key", "dev-key")
    problems = check_secrets(tf, collect_code_facts())
    assert any("secret gemini-api-key is read by the code" in p for p in problems), problems


def test_a_secret_a_function_starts_reading_is_reported(tf: TerraformModel, tmp_path: Path) -> None:
    bootstrap = tmp_path / "bootstrap.py"
    source = BOOTSTRAP.read_text(encoding="utf-8")
    read = 'secrets().get("whatsapp-access-token")'
    assert read in source
    bootstrap.write_text(
        source.replace(read, f'{read} + secrets().get("graph-app-id")'), encoding="utf-8"
    )
    problems = check_secrets(tf, collect_code_facts(bootstrap=bootstrap))
    assert "outbound: reads secret graph-app-id but has no secretAccessor on it" in problems
    assert any("secret graph-app-id is read by the code" in p for p in problems), problems


def test_a_function_that_starts_calling_vertex_ai_is_reported(
    tf: TerraformModel, tmp_path: Path
) -> None:
    bootstrap = tmp_path / "bootstrap.py"
    source = BOOTSTRAP.read_text(encoding="utf-8")
    anchor = "    from shared.handlers.outbound import OutboundService\n"
    assert anchor in source
    bootstrap.write_text(
        source.replace(anchor, anchor + "    from shared.adapters import vertex  # noqa\n"),
        encoding="utf-8",
    )
    problems = check_api_roles(tf, collect_code_facts(bootstrap=bootstrap))
    assert problems == [
        "outbound: uses shared.adapters.vertex but lacks roles/aiplatform.user (project_roles)"
    ]


def test_a_missing_grant_is_reported(raw: RawTerraform, code: CodeFacts) -> None:
    raw.locals["functions"]["webhook"]["secrets"].remove("whatsapp-app-secret")
    problems = check_secrets(build_model(raw), code)
    assert "webhook: reads secret whatsapp-app-secret but has no secretAccessor on it" in problems


def test_a_primitive_role_is_reported(raw: RawTerraform) -> None:
    raw.resources[("google_project_iam_member", "oops")] = {
        "project": "${var.project_id}",
        "role": "roles/editor",
        "member": "${google_service_account.deploy.member}",
    }
    assert any("primitive role" in p for p in check_iam(raw))


def test_a_project_level_secret_accessor_through_locals_is_reported(raw: RawTerraform) -> None:
    raw.locals["runtime_project_roles"].append("roles/secretmanager.secretAccessor")
    problems = check_iam(raw)
    assert any(
        "google_project_iam_member.function: grants roles/secretmanager.secretAccessor" in p
        for p in problems
    ), problems


def test_rewired_resources_are_reported(raw: RawTerraform) -> None:
    function = raw.resources[("google_cloudfunctions2_function", "function")]
    function["service_config"][0]["environment_variables"] = "${each.value.env}"
    assert any("environment_variables" in p for p in check_wiring(raw))


def test_a_log_metric_that_no_longer_matches_the_code_is_reported(raw: RawTerraform) -> None:
    body = raw.resources[("google_logging_metric", "messages_in")]
    body["filter"] = body["filter"].replace("wakes the agent", "woke the agent")
    problems = check_log_metrics(raw)
    assert any("misses shared.handlers.intake line" in p for p in problems), problems


def test_a_reworded_log_line_is_reported(raw: RawTerraform) -> None:
    lines = dict(LOG_LINES)
    lines["atende/dead_letters"] = (
        LogLine("shared.handlers.dead_letter", "parked %s from %s: %s", ("1", "intake", "x")),
    )
    problems = check_log_metrics(raw, lines)
    assert any("no longer logs 'parked %s from %s: %s'" in p for p in problems), problems


def test_an_event_metric_nobody_writes_is_reported(raw: RawTerraform) -> None:
    body = raw.resources[("google_logging_metric", "ticket_status")]
    body["filter"] = body["filter"].replace('"ticket_status"', '"ticket_state"')
    problems = check_log_metrics(raw)
    assert problems == ["atende/ticket_status: no code writes event 'ticket_state'"]


def test_an_awaited_event_the_code_now_writes_is_reported(raw: RawTerraform) -> None:
    problems = check_log_metrics(raw, awaiting=frozenset({"llm_call"}))
    assert any("now writes event 'llm_call'" in p for p in problems), problems


def test_a_handoff_metric_counting_every_turn_is_reported(raw: RawTerraform) -> None:
    body = raw.resources[("google_logging_metric", "handoffs")]
    body["filter"] = body["filter"].replace(
        "hands [^ ]+ to an analyst via [^ ]+ [(](full|partial)[)]$", ".*$"
    )
    problems = check_log_metrics(raw)
    assert any("also counts" in p and "via sac in 80 ms" in p for p in problems), problems


def _tick_target(raw: RawTerraform) -> dict[str, Any]:
    target: dict[str, Any] = raw.resources[("google_cloud_scheduler_job", "followup_tick")][
        "pubsub_target"
    ][0]
    return target


def test_a_tick_payload_that_drifts_from_the_code_is_reported(
    tf: TerraformModel, code: CodeFacts
) -> None:
    target = _tick_target(tf.raw)
    target["data"] = target["data"].replace("followups", "follow-ups")
    problems = check_scheduler(tf, code)
    assert any("follow-ups" in p and "TICK_PAYLOAD" in p for p in problems), problems


def test_a_tick_payload_with_other_bytes_is_reported(tf: TerraformModel, code: CodeFacts) -> None:
    # The local stack publishes TICK_PAYLOAD's bytes; equal JSON is not enough.
    target = _tick_target(tf.raw)
    target["data"] = target["data"].replace('\\":\\"', '\\": \\"')
    problems = check_scheduler(tf, code)
    assert any("same JSON, other bytes" in p for p in problems), problems


def test_a_computed_tick_payload_is_reported(tf: TerraformModel, code: CodeFacts) -> None:
    _tick_target(tf.raw)["data"] = "${base64encode(jsonencode(local.tick))}"
    problems = check_scheduler(tf, code)
    assert any("cannot be compared" in p for p in problems), problems


def test_ticks_to_another_topic_are_reported(tf: TerraformModel, code: CodeFacts) -> None:
    _tick_target(tf.raw)["topic_name"] = '${google_pubsub_topic.topic["inbound"].id}'
    problems = check_scheduler(tf, code)
    assert any("nothing ticks the follow-ups" in p for p in problems), problems


def test_a_trail_setting_that_differs_or_is_missing_is_reported(
    raw: RawTerraform, code: CodeFacts
) -> None:
    functions = raw.locals["functions"]
    functions["billing_api"]["env"]["FOLLOWUP_CADENCE"] = '${join(",", ["0d", "1d"])}'
    del functions["agent_turn"]["env"]["FOLLOWUP_HOLIDAYS"]
    problems = check_shared_settings(build_model(raw), code)
    assert any(p.startswith("FOLLOWUP_CADENCE differs between functions") for p in problems)
    assert any(
        p.startswith("agent_turn: reads the reminder trail's policy") and "FOLLOWUP_HOLIDAYS" in p
        for p in problems
    ), problems


def test_a_function_reading_firestore_without_a_role_is_reported(
    raw: RawTerraform, code: CodeFacts
) -> None:
    raw.locals["functions"]["tools_hub"]["project_roles"] = []
    problems = check_firestore_roles(build_model(raw), code)
    assert any(p.startswith("tools_hub: uses shared.adapters.firestore_") for p in problems), (
        problems
    )


def test_a_public_billing_api_is_reported(raw: RawTerraform) -> None:
    raw.resources[("google_cloud_run_v2_service_iam_member", "billing_api_public")] = {
        "name": '${google_cloudfunctions2_function.function["billing_api"].name}',
        "role": "roles/run.invoker",
        "member": "allUsers",
    }
    raw.locals["functions"]["billing_api"]["public"] = True
    problems = check_public_access(raw)
    assert "google_cloud_run_v2_service_iam_member.billing_api_public: grants to allUsers" in (
        problems
    )
    assert any("function billing_api is public" in p for p in problems), problems
