"""``parlay campaign|users|skills|handoffs``: the commands an operator or a campaign manager
runs against a Parlay over its API, on ``parlay.client``."""
