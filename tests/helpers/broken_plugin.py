"""A plug-in module whose import fails, as a third-party package with a missing dependency would."""

raise ImportError("simulated broken plug-in: its dependency 'not_a_real_dependency' is missing")
