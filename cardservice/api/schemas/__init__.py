"""The request and response bodies of the /v1 API — the OpenAPI document's schemas — by area. Apart from
the database's models (:mod:`cardservice.store`) and the services' values: routes convert."""
