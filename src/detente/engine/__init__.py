"""The hot paths over domain objects: the 4D world index and the strategic check.

Public API::

    world = World(parties, separation)        # empty world
    world = World.from_scenario(scenario)     # or built from a Scenario
    world.add(obj)                            # insert or replace a WorldObject
    world.remove((kind, id))                  # remove one
    conflicts = world.check(intent)           # list[Conflict], sorted
    disclosure = world.disclose(conflict, intent)  # what the other party is told
"""
