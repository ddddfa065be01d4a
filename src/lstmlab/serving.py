"""Where models logged before lstmlab's re-layout find their loader: their MLmodel files name
``lstmlab.serving`` as the pyfunc flavor's loader_module, and a registered model outlives the
layout it was logged under."""

from lstmlab.tracking.serving import _load_pyfunc

__all__ = ["_load_pyfunc"]
