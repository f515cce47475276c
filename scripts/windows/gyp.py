#!/usr/bin/env python3
"""Reads a binding.gyp the way gyp would for one OS, and prints its targets as JSON.

node-gyp cannot cross-compile, so scripts/windows/build.js drives mingw-w64 itself;
this is where it learns what to build, so that a source, define or dependency
added to a binding.gyp is picked up without editing the Windows scripts.

    python3 scripts/windows/gyp.py binding.gyp [name=value ...]

Variables given as name=value override the defaults (OS=win, target_arch=x64);
node-gyp's node_root_dir is one a binding.gyp may read.

Output: {"targets": [{"target_name", "type", "dir", "sources", "include_dirs",
"defines", "cflags", "cflags_cc", "ldflags", "libraries", "link_with"}]}, paths
absolute. "link_with" lists the static libraries (by target name, in the same
output) whose objects the target links.

What it understands, from gyp's own rules (gyp/input.py): Python-literal files,
'includes', 'variables' (with % defaults), 'conditions' and 'target_conditions' at
any depth, <(var) <@(var) <!(cmd) <!@(cmd) expansions (> forms alike), list
merging with the '!' (exclude), '/' (regex filter), '=' (replace), '+' (prepend)
and '?' (only if unset) key suffixes, 'target_defaults', and 'dependencies' on
targets in this or another .gyp file, whose direct_dependent_settings and
all_dependent_settings are merged in. Anything else in a target (msvs_settings,
xcode_settings, actions) is left out: it does not apply to a mingw-w64 build.
"""
import ast
import copy
import json
import os
import re
import subprocess
import sys

PATH_KEYS = {'sources', 'include_dirs', 'library_dirs', 'inputs', 'outputs'}
SETTING_KEYS = ['sources', 'include_dirs', 'defines', 'cflags', 'cflags_cc', 'ldflags', 'libraries']


class GypError(Exception):
    pass


class Unknown(dict):
    """Names a condition reads that nothing defined are '' (gyp raises; node-gyp's
    own files test names like node_engine that a binding.gyp never sets)."""

    def __missing__(self, key):
        return ''


def load_literal(path):
    with open(path, encoding='utf-8') as f:
        return ast.literal_eval(f.read())


def find_close(text, start):
    """Index of the ')' matching the '(' at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == '(':
            depth += 1
        elif text[i] == ')':
            depth -= 1
            if depth == 0:
                return i
    raise GypError('unbalanced parentheses in %r' % text)


EXPANSION = re.compile(r'([<>])(!?)(@?)\(')


class Context:
    def __init__(self, directory, variables):
        self.directory = directory
        self.variables = variables

    def run(self, command):
        result = subprocess.run(command, shell=True, cwd=self.directory,
                                stdout=subprocess.PIPE, universal_newlines=True)
        if result.returncode != 0:
            raise GypError('<!(%s) failed with exit code %d in %s'
                           % (command, result.returncode, self.directory))
        return result.stdout.rstrip('\n')

    def expand_string(self, text):
        """Returns a string, or a list when the whole string is one @ expansion."""
        while True:
            m = EXPANSION.search(text)
            if m is None:
                return text
            close = find_close(text, m.end() - 1)
            inner = self.expand_string(text[m.end():close])
            if isinstance(inner, list):
                inner = ' '.join(inner)
            if m.group(2):
                value = self.run(inner)
                as_list = value.split()
            else:
                if inner not in self.variables:
                    raise GypError('undefined variable %r in %r' % (inner, text))
                value = self.variables[inner]
                as_list = value if isinstance(value, list) else str(value).split()
                if isinstance(value, list):
                    value = ' '.join(str(v) for v in value)
            if m.group(3):
                if m.start() != 0 or close != len(text) - 1:
                    raise GypError('an @ expansion must be a whole list item: %r' % text)
                return [str(v) for v in as_list]
            text = text[:m.start()] + str(value) + text[close + 1:]

    def expand(self, value):
        if isinstance(value, str):
            return self.expand_string(value)
        if isinstance(value, list):
            out = []
            for item in value:
                expanded = self.expand(item)
                if isinstance(item, str) and isinstance(expanded, list):
                    out.extend(expanded)
                else:
                    out.append(expanded)
            return out
        if isinstance(value, dict):
            return {k: self.expand(v) for k, v in value.items() if k != 'variables'}
        return value

    def test(self, condition, extra=None):
        names = Unknown(self.variables)
        if extra:
            names.update(extra)
        return bool(eval(condition, {'__builtins__': {}}, names))


def strip_suffix(key):
    return key[:-1] if key and key[-1] in '=+?!/' else key


def absolute(directory, path):
    if os.path.isabs(path) or path[:1] in ('-', '$', '<', '>'):
        return path
    return os.path.normpath(os.path.join(directory, path))


def fix_paths(d, directory):
    """Makes the relative paths a file wrote absolute, before it is merged into
    another file's dict (gyp's MakePathRelative, with absolute paths)."""
    for key, value in d.items():
        if isinstance(value, dict):
            fix_paths(value, directory)
        elif isinstance(value, list):
            if strip_suffix(key) in PATH_KEYS and not key.endswith('/'):
                d[key] = [absolute(directory, v) if isinstance(v, str) else v for v in value]
            for v in value:
                if isinstance(v, dict):
                    fix_paths(v, directory)
                elif isinstance(v, list):  # a condition: [expr, {then}, {else}]
                    for w in v:
                        if isinstance(w, dict):
                            fix_paths(w, directory)


def merge_dicts(to, fro):
    for raw_key, value in fro.items():
        key, mode = raw_key, ''
        if raw_key[-1:] in ('=', '+', '?'):
            key, mode = raw_key[:-1], raw_key[-1]
        if mode == '?' and key in to:
            continue
        if isinstance(value, list):
            if mode == '=' or key not in to:
                to[key] = []
            items = copy.deepcopy(value)
            if mode == '+':
                to[key][:0] = items
            else:
                to[key].extend(items)
        elif isinstance(value, dict):
            merge_dicts(to.setdefault(key, {}), value)
        else:
            to[key] = value


def include_files(d, directory):
    """Merges every 'includes' file into the dict that names it, at any depth."""
    for include in d.pop('includes', []):
        path = absolute(directory, include)
        included = load_literal(path)
        fix_paths(included, os.path.dirname(path))
        include_files(included, os.path.dirname(path))
        merge_dicts(d, included)
    for value in d.values():
        for sub in value if isinstance(value, list) else [value]:
            if isinstance(sub, dict):  # a target in 'targets', a settings block
                include_files(sub, directory)


def apply_filters(d):
    for key in [k for k in d if k.endswith('!') and isinstance(d.get(k[:-1]), list)]:
        remove = set(d[key])
        d[key[:-1]] = [x for x in d[key[:-1]] if x not in remove]
    for key in [k for k in d if k.endswith('/') and isinstance(d.get(k[:-1]), list)]:
        items = d[key[:-1]]
        chosen = {x: True for x in items}
        for action, pattern in d[key]:
            for x in items:
                if re.search(pattern, x):
                    chosen[x] = action == 'include'
        d[key[:-1]] = [x for x in items if chosen[x]]
    for key in [k for k in d if k.endswith('!') or k.endswith('/')]:
        del d[key]
    for value in d.values():
        if isinstance(value, dict):
            apply_filters(value)


def set_variables(variables, ctx):
    process(variables, ctx)
    for name, value in variables.items():
        if name.endswith('%'):
            ctx.variables.setdefault(name[:-1], value)
        else:
            ctx.variables[name] = value


def process(d, ctx, cond_key='conditions', extra=None):
    """gyp's order: a dict's variables, then its conditions (only the branch taken
    is ever expanded, so commands in other OSes' branches never run), then every
    value; nested dicts alike. Path lists end absolute."""
    if isinstance(d.get('variables'), dict):
        set_variables(d.pop('variables'), ctx)
    while cond_key in d:
        for entry in d.pop(cond_key):
            i = 0
            while i < len(entry):
                if ctx.test(ctx.expand_string(entry[i]), extra):
                    merge_dicts(d, entry[i + 1])
                    break
                if len(entry) - i == 3:
                    merge_dicts(d, entry[i + 2])
                    break
                i += 2  # gyp allows [cond1, then1, cond2, then2, ..., else]
    for key, value in list(d.items()):
        if key in ('target_conditions', 'conditions', 'targets'):
            continue
        if isinstance(value, dict):
            process(value, ctx, cond_key, extra)
        else:
            d[key] = ctx.expand(value)
        if strip_suffix(key) in PATH_KEYS and isinstance(d[key], list) and not key.endswith('/'):
            d[key] = [absolute(ctx.directory, v) if isinstance(v, str) else v for v in d[key]]


def merge_setting_lists(settings, block):
    for k in SETTING_KEYS:
        if k in block:
            settings[k].extend(block[k])


class Loader:
    def __init__(self, variables):
        self.base_vars = dict({'OS': 'win', 'target_arch': 'x64', 'host_arch': 'x64',
                               'EXECUTABLE_SUFFIX': '.exe', 'SHARED_LIB_SUFFIX': '.dll'}, **variables)
        self.files = {}

    def load(self, path):
        path = os.path.abspath(path)
        if path in self.files:
            return self.files[path]
        directory = os.path.dirname(path)
        raw = load_literal(path)
        include_files(raw, directory)
        ctx = Context(directory, dict(self.base_vars, module_root_dir=directory))
        if isinstance(raw.get('variables'), dict):
            set_variables(raw.pop('variables'), ctx)
        top = {k: raw.pop(k) for k in ('conditions',) if k in raw}
        process(top, ctx)  # top-level conditions may add targets or target_defaults
        merge_dicts(raw, top)
        defaults = raw.get('target_defaults', {})
        targets = {}
        for target in raw.get('targets', []):
            t = copy.deepcopy(defaults)
            merge_dicts(t, target)
            t.setdefault('type', 'loadable_module')
            extra = {'_type': t['type'], '_target_name': t['target_name']}
            tctx = Context(directory, dict(ctx.variables, **extra))
            process(t, tctx)
            process(t, tctx, 'target_conditions', extra)
            apply_filters(t)
            targets[t['target_name']] = (t, tctx)
        self.files[path] = targets
        return targets

    def resolve(self, path):
        path = os.path.abspath(path)
        out = []
        for name, (t, ctx) in self.load(path).items():
            settings = {k: list(t.get(k, [])) for k in SETTING_KEYS}
            link_with = []
            seen = set()

            def visit(spec, from_dir):
                if ':' in spec:
                    dep_file, dep_name = spec.rsplit(':', 1)
                    dep_path = absolute(from_dir, dep_file)
                else:
                    dep_path, dep_name = path, spec
                if (dep_path, dep_name) in seen:
                    return
                seen.add((dep_path, dep_name))
                dep_targets = self.load(dep_path)
                if dep_name not in dep_targets:
                    raise GypError('%s has no target %r' % (dep_path, dep_name))
                dep, dep_ctx = dep_targets[dep_name]
                for block in ('direct_dependent_settings', 'all_dependent_settings'):
                    merge_setting_lists(settings, dep.get(block, {}))
                if dep['type'] == 'static_library':
                    if dep_path != path:
                        raise GypError('a static library from another .gyp file (%s:%s) is not supported'
                                         % (dep_path, dep_name))
                    link_with.append(dep_name)
                for sub in dep.get('dependencies', []):
                    visit(sub, dep_ctx.directory)

            for dep in t.get('dependencies', []):
                visit(dep, ctx.directory)
            for k in ('defines', 'include_dirs'):
                settings[k] = list(dict.fromkeys(settings[k]))
            out.append(dict(target_name=name, type=t['type'], dir=ctx.directory,
                            link_with=link_with, **settings))
        return out


def main(argv):
    if len(argv) < 2 or argv[1].startswith('-'):
        sys.stderr.write(__doc__)
        return 2
    variables = dict(arg.split('=', 1) for arg in argv[2:])
    try:
        targets = Loader(variables).resolve(argv[1])
    except GypError as e:
        sys.stderr.write('gyp.py: %s: %s\n' % (argv[1], e))
        return 1
    json.dump({'targets': targets}, sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
