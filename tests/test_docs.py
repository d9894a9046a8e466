"""The repository is self-contained: every document a file points to is in the repository."""
import os
import re
import subprocess
from os import path as osp

import pytest

TEXT_EXT = ('.py', '.md', '.yml', '.yaml', '.sh', '.txt', '.toml', '.cfg', '.pth')
DOC_REF = re.compile(r'[\w./-]*[\w-]+\.md\b')
GENERATED = {'report.md', '/report.md', 'eval.md', 'curve.md'}  # outputs of benchmarks and seeclear-evaluate


def tracked_files(repo: str):
    out = subprocess.run(['git', 'ls-files'], cwd=repo, capture_output=True, text=True)
    if out.returncode != 0:  # not a git checkout (an sdist): walk the tree
        return [osp.relpath(osp.join(d, f), repo) for d, _, fs in os.walk(repo) for f in fs
                if '.venv' not in d and '.git' not in d]
    return out.stdout.split()


def test_every_referenced_document_exists(repo_root):
    files = [f for f in tracked_files(repo_root) if f.endswith(TEXT_EXT) and osp.isfile(osp.join(repo_root, f))]
    names = {osp.basename(f) for f in files}
    missing = []
    for rel in files:
        with open(osp.join(repo_root, rel), encoding='utf-8', errors='ignore') as f:
            text = f.read()
        for ref in set(DOC_REF.findall(text)) - GENERATED:
            here = osp.normpath(osp.join(repo_root, osp.dirname(rel), ref))
            if not (osp.isfile(here) or osp.isfile(osp.join(repo_root, ref)) or osp.basename(ref) in names):
                missing.append(f'{rel}: {ref}')
    assert not missing, 'references to documents not in the repository: ' + ', '.join(missing)


# spelled in pieces so that this file does not itself name what it forbids
@pytest.mark.parametrize('outside', ['DESIGN' + '.md', '..' + '/shared', '/' + 'work/'])
def test_no_file_points_outside_the_repository(repo_root, outside):
    hits = []
    for rel in tracked_files(repo_root):
        if rel.endswith(TEXT_EXT):
            with open(osp.join(repo_root, rel), encoding='utf-8', errors='ignore') as f:
                if outside in f.read():
                    hits.append(rel)
    assert not hits, f'{outside!r} in {hits}'
