import sys
from pathlib import Path

# Tests import their shared helpers (model_zoo, shared_data) as top-level modules.
sys.path.insert(0, str(Path(__file__).parent))
