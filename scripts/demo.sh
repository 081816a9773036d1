#!/usr/bin/env bash
# The main job on the embedded simulation, as far as the toolkit goes today.
set -euo pipefail
so101 --version
so101 doctor
