"""Process-wide JAX setup: the persistent compilation cache, so a second start compiles nothing."""

from __future__ import annotations

from pathlib import Path

import jax

_configured: Path | None = None


def enable_compilation_cache(cache_dir: Path | None) -> None:
    """Turns on JAX's persistent cache for every compilation (by default JAX only stores
    compilations slower than 1 s, which skips all of ours). Safe to call repeatedly."""
    global _configured
    if cache_dir is None or _configured == cache_dir:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _configured = cache_dir
