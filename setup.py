"""Install SeeClear as a BasicSR plugin.

Ranges, not pins: users bring their own CUDA torch. ``requirements.txt`` pins the CPU
environment used by this project's CI. BasicSR 1.4.2 is an sdist that needs torch at build
time: install torch first, then ``pip install --no-build-isolation basicsr==1.4.2``
(``scripts/setup_env.sh`` does all of this).
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PTH = 'seeclear_autoregister.pth'


class BuildPyWithPth(build_py):
    """Ship the auto-registration ``.pth`` at the root of site-packages."""

    def run(self):
        super().run()
        here = os.path.dirname(os.path.abspath(__file__))
        self.copy_file(os.path.join(here, PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


setup(
    name='seeclear-arch',
    version='0.1.0',
    description='SeeClear (NeurIPS 2024) diffusion video super-resolution as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read() if os.path.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['seeclear_arch', 'seeclear_arch.*']),
    py_modules=['seeclear_autoregister'],
    cmdclass={'build_py': BuildPyWithPth},
    install_requires=[
        'torch>=1.13',
        'torchvision>=0.14',
        'basicsr>=1.4.2',
        'numpy',
        'opencv-python-headless',
        'lmdb',
        'PyYAML',
        'scipy',
        'lpips>=0.1.4',
        'dists-pytorch>=0.1',
        'av',
        'einops',
        'matplotlib',
    ],
    extras_require={
        'mask2former': ['transformers>=4.40'],
        'wavelets': ['ptwt>=1.0'],
        'test': ['pytest', 'ruff', 'ptwt>=1.0', 'transformers>=4.40'],
    },
    entry_points={
        'console_scripts': [
            'seeclear-train=seeclear_arch.train:main',
            'seeclear-test=seeclear_arch.test:main',
            'seeclear-evaluate=seeclear_arch.evaluation.cli:main',
            'seeclear-infer=seeclear_arch.inference.cli:main',
        ],
    },
)
