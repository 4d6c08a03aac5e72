"""The generated SAMPLE district and its complaints: tooling, not the service.

`sample.district` generates the layout files in data/sample (invented
subdivisions inside the real outline of 蓬江区), `sample.seed` loads them, and
`sample.complaints` makes and files a year of invented complaints. The service
(gis/, cases/, api/) never imports this package.
"""
