"""Squint-style visual SAC (Almuzairee & Christensen, 2026): a small image, a small encoder, a C51 critic."""
