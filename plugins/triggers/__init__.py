"""Lockgate's triggers: the event sources of ``AssetWatcher``-driven pipelines (:mod:`lockgate.triggers.queues`)."""
