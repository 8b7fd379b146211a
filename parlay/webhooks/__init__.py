"""Status webhooks: a brand's subscriptions, and the outbox of events waiting to be POSTed to them.

Events are written to the outbox (``outbox.py``) in the transaction of the change that caused them
(a delivery's status change, from ``parlay.delivery.lifecycle``; a conversation's, from
``parlay.conversations``), so none is lost to a crash; the worker's relay
(``parlay.dispatch.webhooks``) claims and sends them. This part sits below ``delivery`` in the
layers so the lifecycle can write its events; it reads no delivery itself.
"""
