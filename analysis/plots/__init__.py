"""DataFrames → plotly figures. Compute in the analysis modules, plot here, arrange in pages.

One submodule per page area; everything is re-exported here so callers write
``from analysis import plots; plots.trend_figure(df)``.
"""

from analysis.plots.common import *  # noqa: F401,F403
from analysis.plots.imports import *  # noqa: F401,F403
from analysis.plots.overview import *  # noqa: F401,F403
from analysis.plots.trends import *  # noqa: F401,F403
from analysis.plots.clusters import *  # noqa: F401,F403
from analysis.plots.sampling import *  # noqa: F401,F403
from analysis.plots.repeats import *  # noqa: F401,F403
