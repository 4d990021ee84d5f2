"""The estate: who holds each address, interface and network in the AWS accounts that log flows.

A flow record says ``10.0.3.17`` and ``eni-0a1b…``; the estate says that this is ``web-1``
(instance ``i-0abc…``), in subnet ``private-a`` of VPC ``prod``, with security group ``web``.
It is read from AWS (:mod:`flowscope.estate.aws`: one snapshot, a flat list of
:class:`~flowscope.estate.aws.Identity` records) and kept as a versioned inventory
(:mod:`flowscope.estate.history`): each identity with the time range in which it was seen, so a
flow is named as of its own time even after the address has moved to another resource, and a
refresh never rewrites what was known before.

Beside the estate, what an address is whatever the accounts hold: the user's own networks
(:mod:`.networks`), special addresses (:mod:`.special`), AWS's published ranges
(:mod:`.awsranges`) and country and AS (:mod:`.geo`), all looked up per distinct address through
one longest-prefix-match table (:mod:`.prefixes`). :mod:`.resolve` puts it all together per
flow endpoint, as of the flow's time; :mod:`.store` keeps it in a store, :mod:`.refresh` runs
the commands that change it.
"""
