"""labelmix: spend a labelling budget well (Mallen & Belrose 2024, arXiv 2410.13215)."""

__version__ = "0.1.0"
