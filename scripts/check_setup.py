#!/usr/bin/python3
"""check_setup.py: prove that the package list in scripts/setup.sh (what it installs) covers every
file the build and the scripts use, so that the README's commands work on a fresh Debian 12
machine and not only on one where the missing package happens to be installed already.

Run through scripts/check_setup.sh after a build; scripts/test.sh does that and fails on it.

The files checked:
  - every existing absolute path in BUILD_DIR/CMakeCache.txt (compilers, tools, libraries,
    package config dirs), outside the source and build trees;
  - every header the compiler read (`ninja -t deps`, when the build dir is a Ninja one);
  - every shared library `ldd` resolves for the executables of the build (mptrain, the test and
    bench binaries);
  - /usr/bin/python3 and the file of every module that scripts/*.py, datasets/*/*.py and the
    Python snippets of the shell scripts (`python3 -c '...'`, heredocs) import, as resolved by
    /usr/bin/python3 (the Python the scripts call).

Each file's Debian package (dpkg-query -S, one call; a symlink is checked together with its
target) must be listed in setup.sh, or be reachable from a listed package through
Depends/Pre-Depends (Recommends and Suggests do not count: setup.sh installs with
--no-install-recommends), or from Debian's Essential packages, which every Debian system has.
Alternatives (`a | b`) count through whichever alternative is installed here; virtual packages
through their installed providers; arch qualifiers (`:any`) are ignored.

Not counted as failures:
  - the CUDA toolkit and NVIDIA libraries (paths under /usr/local/cuda*, CMake keys naming CUDA,
    NVIDIA library names or package names): optional, and out of setup.sh's scope;
  - the Python modules in OPTIONAL_MODULES (installed on demand by the script that needs them).
A file no Debian package owns (e.g. something under /usr/local, or a pyenv Python) is a failure:
a fresh machine will not have it. A script that runs `python3` from PATH (or
`#!/usr/bin/env python3`) while importing a module outside the standard library is a failure
too: PATH may find another Python (pyenv, a venv) than the Debian one whose packages are checked.

Exit 0 when everything is covered, 1 with one message per missing package (the files that need
it and what uses them), 2 on usage errors.
"""
import argparse
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

# Modules some script imports that setup.sh deliberately does not install.
OPTIONAL_MODULES = {
    "torch": "benchmark-only: `scripts/setup.sh --bench` installs python3-torch (scripts/bench_common.sh runs it)",
}
DEBIAN_PYTHON = "/usr/bin/python3"

CUDA_PATH = re.compile(r"^/(usr/local|opt)/cuda[^/]*(/|$)")
CUDA_KEY = re.compile(r"CUDA|NCCL|CUBLAS|NVCC", re.IGNORECASE)
CUDA_LIB = re.compile(r"^(lib)?(cuda|cudart|cublas|cublasLt|nccl|nvrtc|nvJitLink|nvidia-|cufft|curand|"
                      r"cusolver|cusparse|nvToolsExt|cupti)", re.IGNORECASE)
CUDA_PACKAGE = re.compile(r"^(cuda-|nvidia-|libnvidia-|lib(cudart|cublas|cufft|curand|cusolver|cusparse|cupti|"
                          r"nccl|nvrtc|nvjitlink|nvtoolsext)[0-9-])", re.IGNORECASE)


def die(msg, code=2):
    print(f"check_setup: {msg}", file=sys.stderr)
    sys.exit(code)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# ---- the package list and its Depends/Pre-Depends closure --------------------------------------

def read_package_list(path, text=None):
    """The list in setup.sh's format: one package per line, "optional" or "bench" after a name
    (neither counted as required), # comments.
    `text` is the list itself (from `setup.sh --list`); otherwise it is read from the file `path`."""
    required, optional = [], []
    if text is None:
        with open(path) as f:
            text = f.read()
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        (optional if len(words) > 1 and words[1] in ("optional", "bench") else required).append(words[0])
    if not required:
        die(f"{path}: expected one Debian package name per line, found none")
    return required, optional


def dep_groups(field):
    """'a (>= 1) | b:any, c' -> [['a', 'b'], ['c']]"""
    groups = []
    for group in field.split(","):
        alts = []
        for alt in group.split("|"):
            name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip().split(":")[0]
            if name:
                alts.append(name)
        if alts:
            groups.append(alts)
    return groups


class PackageDb:
    """The installed packages, read with one dpkg-query call."""

    def __init__(self):
        fmt = "${db:Status-Abbrev}\\t${Package}\\t${Essential}\\t${Provides}\\t${Pre-Depends}\\t" \
              "${Depends}\\t${Recommends}\\t${Suggests}\\n"
        if not shutil.which("dpkg-query"):
            die("dpkg-query not found: this check is for Debian (scripts/setup.sh's target system)")
        out = run(["dpkg-query", "-W", "-f", fmt])
        if out.returncode != 0:
            die(f"dpkg-query -W failed: {out.stderr.strip()}")
        self.deps, self.weak, self.essential, self.providers = {}, {}, set(), {}
        for line in out.stdout.splitlines():
            status, name, essential, provides, pre, dep, rec, sug = (line.split("\t") + [""] * 8)[:8]
            if not status.startswith("ii"):
                continue
            self.deps.setdefault(name, []).extend(dep_groups(pre) + dep_groups(dep))
            self.weak.setdefault(name, []).extend(
                [("Recommends", g) for g in dep_groups(rec)] + [("Suggests", g) for g in dep_groups(sug)])
            if essential == "yes":
                self.essential.add(name)
            for g in dep_groups(provides):
                self.providers.setdefault(g[0], set()).add(name)

    def installed(self, name):
        return name in self.deps

    def satisfiers(self, alts):
        """The installed packages that satisfy one dependency group (any alternative, providers)."""
        found = set()
        for a in alts:
            if a in self.deps:
                found.add(a)
            found |= self.providers.get(a, set())
        return found

    def closure(self, roots):
        seen, todo = set(), list(roots)
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            for group in self.deps.get(p, []):
                todo.extend(self.satisfiers(group) - seen)
        return seen

    def depended_on_by(self, pkg, exclude):
        """The installed packages outside `exclude` that Depend/Pre-Depend on pkg."""
        return sorted(p for p, groups in self.deps.items()
                      if p not in exclude and any(pkg in self.satisfiers(g) for g in groups))

    def weakly_pulled_by(self, pkg, among):
        """'libdnnl-dev Recommends ocl-icd-opencl-dev' for packages in `among` that only
        Recommend/Suggest pkg: how it got onto this machine."""
        why = []
        for p in sorted(among):
            for kind, group in self.weak.get(p, []):
                if pkg in self.satisfiers(group):
                    why.append(f"{p} {kind} {pkg}")
        return why


# ---- files the build uses -------------------------------------------------------------------------

def cmake_cache_paths(build, inside):
    uses = []
    # Install destinations are where `cmake --install` writes, not inputs of the build.
    def skipped(key):
        return key.startswith("CMAKE_INSTALL_") or key.startswith("_GNUInstallDirs_")
    with open(os.path.join(build, "CMakeCache.txt"), errors="replace") as f:
        for line in f:
            m = re.match(r"^([^#/][^:=]*):([A-Z]+)=(.*)$", line.rstrip("\n"))
            if not m or skipped(m.group(1)):
                continue
            for value in m.group(3).split(";"):
                value = value.strip()
                if value.startswith("/") and os.path.exists(value) and not inside(value):
                    uses.append((os.path.normpath(value), f"CMakeCache.txt {m.group(1)}"))
    return uses


def cache_source_dirs(build):
    """The source tree the build was configured from (it may be another checkout than this one)."""
    with open(os.path.join(build, "CMakeCache.txt"), errors="replace") as f:
        return [os.path.realpath(line.split("=", 1)[1].strip()) for line in f
                if line.startswith("CMAKE_HOME_DIRECTORY:")]


def ninja_header_paths(build, inside):
    if not os.path.exists(os.path.join(build, ".ninja_deps")) or not shutil.which("ninja"):
        return [], "the headers the build #includes (no .ninja_deps or no ninja: not a Ninja build)"
    out = run(["ninja", "-C", build, "-t", "deps"])
    if out.returncode != 0:
        return [], f"the headers the build #includes (`ninja -t deps` failed: {out.stderr.strip()})"
    paths = {line.strip() for line in out.stdout.splitlines() if line.startswith("    /")}
    return [(os.path.normpath(p), "a header the build #includes (ninja -t deps)")
            for p in sorted(paths) if not inside(p) and os.path.exists(p)], None


def build_executables(build):
    exes = []
    for root, dirs, files in os.walk(build):
        dirs[:] = [d for d in dirs if d != "CMakeFiles"]  # compiler probes, not the build's programs
        for name in files:
            p = os.path.join(root, name)
            if os.access(p, os.X_OK) and not os.path.islink(p):
                with open(p, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        exes.append(p)
    return sorted(exes)


def shared_library_paths(exes, build, problems):
    uses, first_user = [], {}
    out = run(["ldd"] + exes) if exes else None
    current = None
    for line in (out.stdout.splitlines() if out else []):
        if not line.startswith(("\t", " ")) and line.endswith(":"):
            current = os.path.relpath(line[:-1], os.path.dirname(build.rstrip("/")) or ".")
            continue
        line = line.strip()
        m = re.match(r"^(\S+) => (not found|(/\S+)) \(", line) or re.match(r"^()()(/\S+) \(", line)
        if not m:
            continue
        if m.group(2) == "not found":
            problems.append(("", f"{current} needs {m.group(1)}, which ldd cannot find", []))
            continue
        path = os.path.normpath(m.group(3))
        if path not in first_user:
            first_user[path] = current
            uses.append((path, f"a shared library of {current} (ldd)"))
    return uses


# ---- what the scripts run ------------------------------------------------------------------------

def imports_in(code):
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set(re.findall(r"(?:^|[;\n])\s*(?:import|from)\s+([A-Za-z_]\w*)", code))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods.add(node.module.split(".")[0])
    return mods


def python_users(src):
    """[(file, interpreter, modules)]: interpreter is 'debian' (/usr/bin/python3), 'path' (the
    python3 first on PATH) or 'var' (a variable the script sets; its default is checked in
    review, not here)."""
    users = []
    rel = lambda p: os.path.relpath(p, src)
    py_files, sh_files = [], []
    for top in ("scripts", "datasets", "tests", ".ci"):
        for root, dirs, files in os.walk(os.path.join(src, top)):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "corpus")]
            for name in files:
                p = os.path.join(root, name)
                if name.endswith(".py") and top in ("scripts", "datasets"):
                    py_files.append(p)
                elif name.endswith(".sh") or (top == ".ci" and "." not in name):
                    sh_files.append(p)
    for p in sorted(py_files):
        with open(p, errors="replace") as f:
            code = f.read()
        first = code.split("\n", 1)[0]
        interp = "path" if re.match(r"#!\s*/usr/bin/env\s+python", first) else "debian"
        users.append((rel(p), interp, imports_in(code), os.path.dirname(p)))
    for p in sorted(sh_files):
        with open(p, errors="replace") as f:
            text = f.read()
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            for word, code in re.findall(r"(\S*python\S*)\s+-c\s+'([^']*)'", line) + \
                    re.findall(r"(\S*python\S*)\s+-c\s+\"([^\"]*)\"", line):
                users.append((f"{rel(p)}:{i + 1}", interp_of(word), imports_in(code), None))
            m = re.search(r"(\S*python\S*)\s.*<<-?\s*['\"]?(\w+)['\"]?", line)
            if m:
                body, j = [], i + 1
                while j < len(lines) and lines[j].strip() != m.group(2):
                    body.append(lines[j])
                    j += 1
                users.append((f"{rel(p)}:{i + 1}", interp_of(m.group(1)), imports_in("\n".join(body)), None))
                i = j
            for word, script in re.findall(r"(\S*python3?\S*)\s+(\S+\.py)\b", line):
                target = os.path.join(src, script) if not script.startswith("$") else None
                if interp_of(word) == "path" and target and os.path.exists(target):
                    with open(target, errors="replace") as f:
                        users.append((f"{rel(p)}:{i + 1} ({script})", "path", imports_in(f.read()), None))
            i += 1
    return users


def interp_of(word):
    """How a shell command word names its Python: 'debian' when it is /usr/bin/python3 (also as a
    ${VAR:-/usr/bin/python3} default), 'path' for a bare python3, 'var' for "$python" and such."""
    if DEBIAN_PYTHON in word:
        return "debian"
    if re.fullmatch(r"python3?", word.strip("\"'(`")):
        return "path"
    return "var"


def python_module_paths(src, problems, notes):
    if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
        del sys.path[0]  # resolve modules as the scripts' Python would, not from this script's folder
    uses = [(DEBIAN_PYTHON, "the Python the scripts run")]
    stdlib = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    path_python = shutil.which("python3") or "none"
    seen = {}
    n_modules = 0
    for where, interp, mods, script_dir in python_users(src):
        def sibling(m):  # a module next to the script itself: found by any Python
            return bool(script_dir) and os.path.exists(os.path.join(script_dir, m + ".py"))
        outside = sorted(m for m in mods
                         if m not in stdlib and m not in OPTIONAL_MODULES and not sibling(m))
        if interp == "path" and outside:
            problems.append(("", f"{where} runs python3 from PATH (here {path_python}) but imports "
                                 f"{', '.join(outside)}, which only {DEBIAN_PYTHON} is checked to have: "
                                 f"call {DEBIAN_PYTHON}", []))
        for mod in sorted(mods):
            if sibling(mod):
                continue
            if mod in OPTIONAL_MODULES:
                notes.add(f"Python module {mod} ({where}): optional, {OPTIONAL_MODULES[mod]}")
                continue
            if mod in seen:
                continue
            seen[mod] = where
            if mod in sys.builtin_module_names:
                continue
            spec = importlib.util.find_spec(mod)
            if spec is None:
                problems.append(("", f"{where} imports {mod}, which {DEBIAN_PYTHON} cannot import", []))
                continue
            origin = spec.origin if spec.origin not in (None, "built-in", "frozen") else None
            if origin is None and spec.submodule_search_locations:
                origin = list(spec.submodule_search_locations)[0]
            if origin:
                n_modules += 1
                uses.append((os.path.normpath(origin), f"Python module {mod}, imported by {where}"))
    return uses, n_modules


# ---- owners -------------------------------------------------------------------------------------

def usr_alias(p):
    """Debian 12 is merged-/usr, but dpkg records some files under /lib, others under /usr/lib."""
    for a, b in (("/usr/lib/", "/lib/"), ("/lib/", "/usr/lib/"), ("/usr/bin/", "/bin/"),
                 ("/bin/", "/usr/bin/"), ("/usr/sbin/", "/sbin/"), ("/sbin/", "/usr/sbin/")):
        if p.startswith(a):
            return b + p[len(a):]
    return None


def dpkg_owners(paths):
    owners = {}
    paths = sorted(set(paths))
    for i in range(0, len(paths), 2000):
        out = run(["dpkg-query", "-S"] + paths[i:i + 2000])
        for line in out.stdout.splitlines():
            if line.startswith("diversion ") or ": " not in line:
                continue
            pkgs, path = line.split(": ", 1)
            owners.setdefault(path, set()).update(p.strip().split(":")[0] for p in pkgs.split(","))
    return owners


def resolve_owners(paths):
    """{path: owners} where a path's owners are those of the path itself, or of its /usr alias,
    and, for a symlink, also those of its final target (both must be installed for it to work)."""
    candidates = set(paths)
    for p in paths:
        for q in (usr_alias(p), os.path.realpath(p), usr_alias(os.path.realpath(p))):
            if q:
                candidates.add(q)
    found = dpkg_owners(candidates)
    result = {}
    for p in paths:
        own = found.get(p) or found.get(usr_alias(p) or "") or set()
        real = os.path.realpath(p)
        target = found.get(real) or found.get(usr_alias(real) or "") or set()
        result[p] = (own, target if real != p else None)
    return result


def is_cuda(path, use, owners):
    # A CMake key that names CUDA exempts only files no Debian package owns: FindCUDAToolkit also
    # records Debian files (CUDA_OpenCL_LIBRARY = libOpenCL.so from ocl-icd-opencl-dev), and those
    # must still be covered by the list, or a CUDA build would hide the bug this check exists for.
    return bool(CUDA_PATH.match(path) or CUDA_PATH.match(os.path.realpath(path))
                or (use.startswith("CMakeCache.txt") and CUDA_KEY.search(use) and not owners)
                or CUDA_LIB.match(os.path.basename(path))
                or any(CUDA_PACKAGE.match(o) for o in owners))


# ---- main ---------------------------------------------------------------------------------------

def main():
    t0 = time.monotonic()
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR", "build"),
                    help="the build to check (default: $BUILD_DIR or build, relative to the source dir)")
    ap.add_argument("--packages", default=None,
                    help="a package list file in setup.sh's format (default: the list in "
                         "scripts/setup.sh, as `setup.sh --list` prints it)")
    ap.add_argument("--source-dir", default=os.path.dirname(here), help="the source tree (default: %(default)s)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every file with its package")
    args = ap.parse_args()
    src = os.path.realpath(args.source_dir)
    build = os.path.realpath(os.path.join(src, args.build_dir))
    if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
        die(f"{build}/CMakeCache.txt: not found; build first (scripts/build.sh), or pass --build-dir")
    list_text = None
    if args.packages is None:
        setup = os.path.join(here, "setup.sh")
        r = subprocess.run(["bash", setup, "--list"], capture_output=True, text=True)
        if r.returncode != 0:
            die(f"{setup} --list failed: {r.stderr.strip()}")
        args.packages, list_text = setup, r.stdout
    elif not os.path.exists(args.packages):
        die(f"{args.packages}: package list not found")
    own_trees = [src, build] + cache_source_dirs(build)
    inside = lambda p: any(os.path.realpath(p).startswith(d + "/") or os.path.realpath(p) == d for d in own_trees)

    required, optional = read_package_list(args.packages, list_text)
    db = PackageDb()
    problems, notes = [], set()
    for p in required:
        if not db.installed(p):
            problems.append((p, f"{p} is in {args.packages} but not installed here: run scripts/setup.sh", []))
    covered = db.closure([p for p in required if db.installed(p)] + sorted(db.essential))

    uses = cmake_cache_paths(build, inside)
    n_cache = len(uses)
    headers, header_note = ninja_header_paths(build, inside)
    if header_note:
        notes.add(header_note)
    uses += headers
    exes = build_executables(build)
    if not exes:
        problems.append(("", f"{build}: no executables found; build first (scripts/build.sh)", []))
    libs = shared_library_paths(exes, build, problems)
    uses += libs
    py_uses, n_modules = python_module_paths(src, problems, notes)
    uses += py_uses

    first_use = {}
    for path, use in uses:
        first_use.setdefault(path, use)
    owners = resolve_owners(list(first_use))
    missing = {}   # package -> [(path, use)]
    unowned = []
    cuda = 0
    for path, use in first_use.items():
        own, target = owners[path]
        if is_cuda(path, use, own | (target or set())):
            cuda += 1
            continue
        if not own and target:
            own, target = target, None  # an unowned link (update-alternatives, ldconfig) to a packaged file
        if not own:
            unowned.append((path, use))
            continue
        checks = [(own, path)]
        if target:
            checks.append((target, f"{os.path.realpath(path)} (the target of {path})"))
        for group, shown in checks:
            if group & covered:
                continue  # (a directory many packages share counts when any of them is covered)
            for pkg in sorted(group):
                missing.setdefault(pkg, []).append((shown, use))
        if args.verbose:
            print(f"  {path}  [{', '.join(sorted(own | (target or set())))}]  ({use})")

    listed = os.path.relpath(args.packages, src) if args.packages.startswith(src) else args.packages
    for pkg, files in sorted(missing.items()):
        how = db.weakly_pulled_by(pkg, covered)
        wanted_by = db.depended_on_by(pkg, exclude=covered)
        lines = [f"{path}  ({use})" for path, use in files[:4]]
        if len(files) > 4:
            lines.append(f"... and {len(files) - 4} more files of {pkg}")
        if how:
            lines.append(f"here it came in only as {', '.join(how[:3])}: Recommends and Suggests do not "
                         f"count (setup.sh installs with --no-install-recommends)")
        also = f" (or one that Depends on it: {', '.join(wanted_by[:3])})" if wanted_by else ""
        lines.append(f"fix: add {pkg} to {listed}{also}")
        problems.append((pkg, f"package {pkg} is needed but is neither in {listed} nor a Depends/Pre-Depends "
                              f"of the packages there; {len(files)} file(s) need it:", lines))
    for path, use in unowned:
        problems.append(("", f"{path} ({use}) is not from a Debian package: a fresh Debian 12 machine "
                             f"will not have it; use the Debian package's file instead", []))

    dt = time.monotonic() - t0
    print(f"check_setup: {listed}: {len(required)} packages (+{len(optional)} optional, not counted); "
          f"with their Depends/Pre-Depends and Debian's Essential packages {len(covered)} packages")
    print(f"check_setup: checked {len(first_use)} files: {n_cache} paths in CMakeCache.txt, {len(headers)} "
          f"headers, {len(libs)} shared libraries of {len(exes)} executables, {DEBIAN_PYTHON} and "
          f"{n_modules} Python modules")
    if cuda:
        notes.add(f"{cuda} CUDA toolkit/NVIDIA files: optional, not installed by setup.sh")
    for n in sorted(notes):
        print(f"check_setup: not checked: {n}")
    if problems:
        for _, msg, lines in problems:
            print(f"check_setup: FAIL: {msg}", file=sys.stderr)
            for line in lines:
                print(f"    {line}", file=sys.stderr)
        print(f"check_setup: {len(problems)} problem(s) ({dt:.1f} s)", file=sys.stderr)
        sys.exit(1)
    print(f"check_setup: ok: every file comes from a listed package or its Depends ({dt:.1f} s)")


if __name__ == "__main__":
    main()
