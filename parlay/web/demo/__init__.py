"""The demo phone (``parlay serve --demo`` only): a simulated app of the demo brand in a browser
tab, reached by real pushes through the push proxy channel."""

from parlay.web.demo.phone import DemoPhone, router

__all__ = ["DemoPhone", "router"]
