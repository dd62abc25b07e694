"""The Slack face of mdbot (slack-bolt): ``app`` holds the listeners and the request lifecycle, ``server``
runs it over Socket Mode or HTTP, ``mdbot slack`` starts it. Depends on ``graph`` only through ``Brain``."""
