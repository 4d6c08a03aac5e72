"""The stations' work: duty shifts and check-ins (值守), weekly duty compliance,
patrols (巡查) with their coverage and findings, and frontage units (门前三包).

Modules by concern: `models` (tables), `weeks` (ISO weeks in Asia/Shanghai),
`places` (who may act where), `shifts` (the rota), `checks` (check-ins and
check-outs), `duty` (the duty rules, who is on duty now),
`compliance` (hours on duty per week against the rule), `patrols` (tracks,
coverage, findings filed as cases) and `frontage` (units and their checks).
"""
