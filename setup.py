"""Install sama_mm; the pins live in requirements/*.txt (each with its reason)."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name):
    """The requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', name), encoding='utf-8') as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version():
    scope = {}
    with open(osp.join(HERE, 'sama_mm', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


extras = {
    # The browser test serves the web demo, so the test extra includes the web extra.
    'tests': read_requirements('tests.txt') + read_requirements('web.txt'),
    'web': read_requirements('web.txt'),
    'optional': read_requirements('optional.txt'),
    'mim': read_requirements('mminstall.txt'),
}
extras['all'] = sorted({req for reqs in extras.values() for req in reqs})

setup(
    name='sama_mm',
    version=read_version(),
    description='SAMA-style grounded video LLMs (train, evaluate, chat) as OpenMMLab components',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['sama_mm', 'sama_mm.*']),
    python_requires='>=3.10',
    # sam2 and xtuner (requirements/nodeps.txt) are installed with --no-deps in a second pip call because
    # their declared requirements clash with these pins; tools/ensure_env.sh does both steps.
    install_requires=read_requirements('runtime.txt') + read_requirements('mminstall.txt'),
    extras_require=extras,
    license='Apache-2.0',
    zip_safe=False,
)
