"""Sehat: offline verification of Iranian academic authenticity codes («کد صحت»)."""

from setuptools import find_packages, setup

setup(
    name="sehat",
    version="0.1.0",
    description="Offline-capable verification appliance for Iranian academic authenticity codes, and its sync agent",
    python_requires=">=3.11",
    packages=find_packages(
        include=[
            "verifier",
            "verifier.*",
            "registry",
            "registry.*",
            "sehat",
            "sehat.*",
            "storage",
            "storage.*",
            "appliance",
            "appliance.*",
            "sync_agent",
            "sync_agent.*",
            "data",
        ]
    ),
    package_data={
        "data": ["sample.csv"],
        "appliance": ["templates/*.html", "templates/admin/*.html", "static/*", "openapi.json"],
    },
    install_requires=[
        "click>=8.1,<9",
        "cryptography>=42,<49",
        "flask>=3.0,<4",
        "waitress>=3.0,<4",
        "sqlcipher3>=0.6.4,<0.7",
        "schedule>=1.2,<2",
        "requests>=2.31,<3",
        "qrcode>=8.0,<9",
        "pillow>=10,<14",
        "pyzbar>=0.1.9,<0.2",
        "jdatetime>=5,<7",
        "flask-wtf>=1.2,<2",
        "flask-limiter>=3.5,<5",
        "prometheus-client>=0.20,<1",
        "zxing-cpp>=2.3,<4",
        "pypdfium2>=4.30,<6",
        "openpyxl>=3.1,<4",
        "flask-babel>=4.0,<5",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3,<3",
            "hypothesis>=6.100,<7",
            "ruff>=0.6,<1",
            "mypy>=1.10,<3",
            "types-waitress>=3.0,<4",
            "types-requests>=2.31,<3",
            "openapi-spec-validator>=0.7,<1",
            "schemathesis>=4,<5",
            "psutil>=5.9,<8",
            "playwright>=1.45,<2",
        ],
    },
    entry_points={"console_scripts": ["sehat=sehat.cli:main"]},
)
