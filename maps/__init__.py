"""Folium maps for analysts, the command centre and planners, working offline.

Builders take pandas/geopandas frames in WGS84 (EPSG:4326) and return ``folium.Map``:
:mod:`maps.heat` (heat map, and by week/day), :mod:`maps.choropleth` (counts and rates
per grid or community), :mod:`maps.hotspots` (Gi* classes, emerging hot spots),
:mod:`maps.operations` (stations, squads, officers on duty, open/overdue cases).
:func:`maps.offline.render` turns a map into a page whose assets the app serves itself;
:func:`maps.export.save_standalone` writes one that needs no app. maps/ reads no database.
"""
