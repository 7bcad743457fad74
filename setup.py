"""Install sama_mm; the requirement ranges live in requirements/*.txt (each with its reason), the exact tested
set in requirements/lock.txt."""
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
    'train': read_requirements('train.txt'),
    'eval': read_requirements('eval.txt'),
    'web': read_requirements('web.txt'),
    'decord': read_requirements('decord.txt'),
    'mim': read_requirements('mminstall.txt'),
}
# The test suite exercises every extra (the browser test serves the web demo, the caption tests run METEOR, the
# video backend tests compare with decord, the TensorBoard test writes event files).
extras['tests'] = sorted(set(read_requirements('tests.txt')).union(*extras.values()))
extras['dev'] = extras['tests']
extras['all'] = sorted({req for reqs in extras.values() for req in reqs})

setup(
    name='sama_mm',
    version=read_version(),
    description='SAMA-style grounded video LLMs (train, evaluate, chat) as OpenMMLab components',
    long_description=open(osp.join(HERE, 'README.md'), encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['sama_mm', 'sama_mm.*']),
    python_requires='>=3.10',
    # Compatible ranges; the exact tested set is requirements/lock.txt (use it as pip's constraints file:
    # pip install -c requirements/lock.txt ".[train,eval,web]").
    install_requires=read_requirements('runtime.txt') + read_requirements('mminstall.txt'),
    extras_require=extras,
    license='Apache-2.0',
    zip_safe=False,
)
